/** The `--demo` mode: an embedded MQTT broker with a simulated home-and-plant device fleet publishing into it. */
import { createServer } from 'node:net'
import type { Logger } from '../log.js'
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js'
import { startFleet, type Fleet } from './fleet.js'

export type { EmbeddedBroker } from './broker.js'
export type { DeviceInfo, DeviceStyle, Fleet, FleetOptions } from './fleet.js'
export { startFleet } from './fleet.js'

/** The port the demo asks for first: the standard MQTT port, so tools find it without being told. */
export const DEFAULT_DEMO_PORT = 1883

/** How to start the demo. */
export interface DemoOptions {
  /** Interface to listen on; 127.0.0.1 by default. */
  readonly host?: string
  /** 1883 by default; when taken, a free port is used and the log says which. 0 always picks a free one. */
  readonly port?: number
  readonly logger: Logger
  /** Time multiplier for the fleet; 1 by default. */
  readonly speed?: number
  /** Seed source for the fleet; reproducible by default. */
  readonly random?: () => number
}

/** A running demo. */
export interface Demo {
  /** Where clients connect, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string
  readonly port: number
  readonly broker: EmbeddedBroker
  readonly fleet: Fleet
  /** Stops the fleet, then the broker, freeing the port. Idempotent. */
  close(): Promise<void>
}

/** Starts the embedded broker (falling back to a free port when the wanted one is taken) and the fleet. */
export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const host = opts.host ?? '127.0.0.1'
  const logger = opts.logger
  const broker = await startBroker(host, opts.port ?? DEFAULT_DEMO_PORT, logger)
  let fleet: Fleet
  try {
    fleet = await startFleet({
      url: `mqtt://${connectableHost(host)}:${broker.port}`,
      logger: logger.child({ component: 'demo-fleet' }),
      ...(opts.speed === undefined ? {} : { speed: opts.speed }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
    })
  } catch (err) {
    await broker.close()
    throw err
  }
  logger.info('demo broker running', { url: broker.url, devices: fleet.devices.length })
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => (closing ??= fleet.stop().then(() => broker.close()))
  return { url: broker.url, port: broker.port, broker, fleet, close }
}

async function startBroker(host: string, port: number, logger: Logger): Promise<EmbeddedBroker> {
  // probing first matters: startEmbeddedBroker leaves its aedes instance (and its intervals) behind when
  // listen fails, which would keep the process alive after close()
  if (port !== 0 && !(await portAvailable(host, port))) return fallBack(host, port, logger)
  try {
    return await startEmbeddedBroker({ host, port })
  } catch (err) {
    // someone took the port between the probe and the listen
    if (port !== 0 && isPortUnavailable(err)) return fallBack(host, port, logger)
    throw err
  }
}

async function fallBack(host: string, port: number, logger: Logger): Promise<EmbeddedBroker> {
  const broker = await startEmbeddedBroker({ host, port: 0 })
  logger.warn(`port ${port} is taken; the demo broker listens on port ${broker.port} instead`, {
    requested_port: port,
    port: broker.port,
  })
  return broker
}

/** False only when the port is in use or not ours to take; other listen errors surface from the real listen. */
function portAvailable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', (err) => resolve(!isPortUnavailable(err)))
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)))
  })
}

function isPortUnavailable(err: unknown): boolean {
  const code = err !== null && typeof err === 'object' && 'code' in err ? err.code : undefined
  return code === 'EADDRINUSE' || code === 'EACCES'
}

/** A wildcard listen address is not something to connect to. */
function connectableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}
