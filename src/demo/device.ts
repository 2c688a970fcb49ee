/** The contract between the demo fleet (connections, timers) and the simulated devices (what they publish). */
import type { Logger } from '../log.js'

/** The naming convention a device follows on the broker. */
export type DeviceStyle = 'zigbee2mqtt' | 'tasmota' | 'homeassistant' | 'plant' | 'generic'

/** One simulated device as the fleet reports it. */
export interface DeviceInfo {
  readonly id: string
  readonly name: string
  readonly style: DeviceStyle
  /** Every concrete topic the device publishes or listens on. */
  readonly topics: string[]
}

/** How one message is published. */
export interface PublishOptions {
  readonly retain?: boolean
  /** QoS 1 is used where the broker must have the message before we go on (retained start-up state). */
  readonly qos?: 0 | 1
}

/** A message handler for `DeviceContext.on`. */
export type MessageHandler = (topic: string, payload: Buffer) => void

/** What a device may do: publish, schedule and listen on its connection, with time scaled by the fleet speed. */
export interface DeviceContext {
  /** This device's own seeded random stream. */
  readonly random: () => number
  readonly logger: Logger
  /**
   * Publishes if connected; a device with nowhere to buffer drops readings while offline. Resolves once
   * written (QoS 0) or acknowledged (QoS 1) and never rejects.
   */
  publish(topic: string, payload: string | Uint8Array, opts?: PublishOptions): Promise<void>
  /**
   * Runs `fn` every `periodMs` of simulated time, each gap varied by ±`jitter` (a fraction, 0.05 by default).
   * `immediate` runs it once right away too, like a device reporting as soon as it boots.
   */
  every(periodMs: number, fn: () => void, opts?: { jitter?: number; immediate?: boolean }): void
  /** Runs `fn` once after `delayMs` of simulated time. */
  after(delayMs: number, fn: () => void): void
  /** Subscribes on the device's connection; `filter` may hold wildcards. */
  on(filter: string, handler: MessageHandler): void
  /** Simulated seconds since the fleet started. */
  uptimeSeconds(): number
}

/** A simulated device: what it is and how it behaves once its connection is up. */
export interface DeviceSpec {
  readonly info: DeviceInfo
  start(ctx: DeviceContext): void
}

/** Retained availability kept by the broker: `online` on every connect, `offline` as the Last Will. */
export interface AvailabilitySpec {
  readonly topic: string
  readonly online: string
  readonly offline: string
}

/** One MQTT connection and the devices speaking through it. */
export interface ConnectionSpec {
  readonly clientId: string
  readonly availability?: AvailabilitySpec
  /** Drops the connection without DISCONNECT after `onlineMs`, reconnects after about `offlineMs` (simulated). */
  readonly flap?: { readonly onlineMs: number; readonly offlineMs: number }
  readonly devices: readonly DeviceSpec[]
}

/** Parses a JSON object payload, or undefined when it is anything else. */
export function parseJsonObject(payload: Buffer): Record<string, unknown> | undefined {
  const text = payload.toString('utf8').trim()
  if (!text.startsWith('{')) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
