/** Runs the simulated device fleet as real MQTT clients, so wills, retained state and commands behave for real. */
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from '../log.js'
import { topicMatches } from '../mqtt/topic.js'
import type { ConnectionSpec, DeviceContext, DeviceInfo, DeviceSpec, MessageHandler } from './device.js'
import { fleetLayout } from './devices/index.js'
import { DEFAULT_SEED, seededRandom } from './random.js'

export type { DeviceInfo, DeviceStyle } from './device.js'

/** How to run the fleet. */
export interface FleetOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string
  readonly logger: Logger
  /** Time multiplier: 20 makes every period twenty times shorter. 1 by default. */
  readonly speed?: number
  /** Source of the per-device seeds; a fixed-seed PRNG by default, so runs are reproducible. */
  readonly random?: () => number
}

/** A running fleet. */
export interface Fleet {
  readonly devices: readonly DeviceInfo[]
  /** Clears every timer and force-closes every connection (no DISCONNECT, so Last Wills fire). Idempotent. */
  stop(): Promise<void>
}

const CONNECT_TIMEOUT_MS = 10_000
const STARTUP_TIMEOUT_MS = 5_000
const END_TIMEOUT_MS = 2_000
const RECONNECT_PERIOD_MS = 2_000
/** Floor for scaled periods, so a high speed cannot turn a timer into a busy loop. */
const MIN_PERIOD_MS = 5
const MIN_RECONNECT_MS = 100
const DEFAULT_JITTER = 0.05

interface Timers {
  /** Runs fn once after ms unless cleared; returns a cancel function. */
  after(ms: number, fn: () => void): () => void
  clear(): void
}

/** Every timer of the fleet lives here, unref'd, so stop() can prove none is left behind. */
function createTimers(): Timers {
  const handles = new Set<NodeJS.Timeout>()
  let cleared = false
  return {
    after(ms, fn) {
      if (cleared) return () => undefined
      const handle = setTimeout(() => {
        handles.delete(handle)
        if (!cleared) fn()
      }, ms)
      handle.unref()
      handles.add(handle)
      return () => {
        clearTimeout(handle)
        handles.delete(handle)
      }
    },
    clear() {
      cleared = true
      for (const handle of handles) clearTimeout(handle)
      handles.clear()
    },
  }
}

/** Shared by every connection of one fleet. */
interface Env {
  readonly url: string
  readonly logger: Logger
  readonly speed: number
  readonly timers: Timers
  readonly startedAt: number
  /** While true, publishes and subscriptions are collected so startFleet can wait for the broker to have them. */
  starting: boolean
  stopped: boolean
  readonly startup: Promise<void>[]
}

interface Route {
  readonly filter: string
  readonly handler: MessageHandler
}

interface Connection {
  readonly spec: ConnectionSpec
  readonly client: MqttClient
  readonly routes: Route[]
  /** Resolves on the first CONNACK; rejects when none comes in time. */
  readonly connected: Promise<void>
}

/** Starts every simulated device; resolves once all are connected and their retained state is on the broker. */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const speed = opts.speed ?? 1
  if (!Number.isFinite(speed) || speed <= 0) throw new RangeError(`demo fleet speed must be a positive number, got ${speed}`)
  const seeds = opts.random ?? seededRandom(DEFAULT_SEED)
  const layout = fleetLayout()
  // seeds are drawn up front in layout order, so each device's values do not depend on timer interleaving
  const seeded = layout.map((spec) => spec.devices.map((device) => ({ device, seed: Math.floor(seeds() * 2 ** 32) })))
  const devices: readonly DeviceInfo[] = layout.flatMap((spec) => spec.devices.map((d) => d.info))

  const env: Env = {
    url: opts.url,
    logger: opts.logger,
    speed,
    timers: createTimers(),
    startedAt: Date.now(),
    starting: true,
    stopped: false,
    startup: [],
  }
  const connections = layout.map((spec) => openConnection(spec, env))

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      env.stopped = true
      env.timers.clear()
      await Promise.all(connections.map((c) => endClient(c.client)))
      env.logger.debug('demo fleet stopped')
    })())

  try {
    await Promise.all(connections.map((c) => c.connected))
    connections.forEach((connection, i) => {
      for (const { device, seed } of seeded[i] ?? []) startDevice(device, seed, connection, env)
    })
    await withTimeout(Promise.all(env.startup), STARTUP_TIMEOUT_MS, 'demo fleet start-up publishes')
  } catch (err) {
    await stop()
    throw err
  } finally {
    env.starting = false
    env.startup.length = 0
  }
  env.logger.info('demo fleet running', { devices: devices.length, connections: connections.length, speed })
  return { devices, stop }
}

function openConnection(spec: ConnectionSpec, env: Env): Connection {
  const logger = env.logger.child({ client_id: spec.clientId })
  const { availability, flap } = spec
  const options: IClientOptions = {
    clientId: spec.clientId,
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    connectTimeout: 5_000,
    // the flapping device stays away for its offline time by way of the reconnect delay
    reconnectPeriod: flap === undefined ? RECONNECT_PERIOD_MS : Math.max(MIN_RECONNECT_MS, flap.offlineMs / env.speed),
    // a sensor has nowhere to keep readings while offline; stale bursts on reconnect would mislead
    queueQoSZero: false,
    ...(availability === undefined
      ? {}
      : { will: { topic: availability.topic, payload: Buffer.from(availability.offline), qos: 1, retain: true } }),
  }
  const client = connect(env.url, options)
  const routes: Route[] = []
  let connects = 0
  let cancelFlap: (() => void) | undefined

  client.on('error', (err) => logger.debug('demo connection error', { error: err.message }))
  client.on('offline', () => {
    if (!env.stopped && flap === undefined) logger.warn('demo device connection lost; reconnecting')
  })
  client.on('close', () => {
    cancelFlap?.()
    cancelFlap = undefined
  })
  client.on('connect', () => {
    if (connects++ > 0) logger.info('demo device reconnected')
    if (availability !== undefined) {
      track(env, publishOn(client, env, logger, availability.topic, availability.online, { retain: true, qos: 1 }))
    }
    if (flap !== undefined) {
      cancelFlap = env.timers.after(Math.max(MIN_PERIOD_MS, flap.onlineMs / env.speed), () => {
        logger.info('demo device drops its connection without DISCONNECT; the broker will publish its Last Will')
        client.stream.destroy()
      })
    }
  })
  client.on('message', (topic, payload) => {
    if (env.stopped) return
    for (const route of routes) {
      if (topicMatches(route.filter, topic)) guard(logger, () => route.handler(topic, payload))
    }
  })
  return { spec, client, routes, connected: firstConnect(client, spec.clientId) }
}

function startDevice(device: DeviceSpec, seed: number, connection: Connection, env: Env): void {
  const { client, routes } = connection
  const logger = env.logger.child({ device: device.info.id })
  const random = seededRandom(seed)
  // jitter draws from its own stream so that timing never shifts the sequence of simulated values
  const timing = seededRandom(seed ^ 0x9e3779b9)
  const scaled = (ms: number): number => Math.max(MIN_PERIOD_MS, ms / env.speed)

  const ctx: DeviceContext = {
    random,
    logger,
    publish: (topic, payload, opts = {}) => track(env, publishOn(client, env, logger, topic, payload, opts)),
    every(periodMs, fn, opts = {}) {
      const jitter = opts.jitter ?? DEFAULT_JITTER
      const schedule = (): void => {
        env.timers.after(scaled(periodMs * (1 + (timing() * 2 - 1) * jitter)), () => {
          guard(logger, fn)
          schedule()
        })
      }
      if (opts.immediate === true) guard(logger, fn)
      schedule()
    },
    after(delayMs, fn) {
      env.timers.after(scaled(delayMs), () => guard(logger, fn))
    },
    on(filter, handler) {
      routes.push({ filter, handler })
      const subscribed = new Promise<void>((resolve) => {
        client.subscribe(filter, { qos: 0 }, (err, granted) => {
          if (err !== null || granted?.some((g) => g.qos === 128) === true) {
            logger.warn('demo device could not subscribe', { filter, error: err?.message ?? 'refused' })
          }
          resolve()
        })
      })
      track(env, subscribed)
    },
    uptimeSeconds: () => Math.floor(((Date.now() - env.startedAt) * env.speed) / 1000),
  }
  guard(logger, () => device.start(ctx))
}

function publishOn(
  client: MqttClient,
  env: Env,
  logger: Logger,
  topic: string,
  payload: string | Uint8Array,
  opts: { retain?: boolean; qos?: 0 | 1 },
): Promise<void> {
  if (env.stopped || !client.connected) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const body = typeof payload === 'string' ? payload : Buffer.from(payload)
    client.publish(topic, body, { qos: opts.qos ?? 0, retain: opts.retain ?? false }, (err) => {
      if (err !== undefined && err !== null) logger.debug('demo publish failed', { topic, error: err.message })
      resolve()
    })
  })
}

/** Collects start-up work; afterwards passes it through untouched. */
function track(env: Env, work: Promise<void>): Promise<void> {
  if (env.starting) env.startup.push(work)
  return work
}

/** A device bug is logged, never allowed to take the server down from inside a timer or message callback. */
function guard(logger: Logger, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    logger.error('demo device failed', { error: err instanceof Error ? err.message : String(err) })
  }
}

function firstConnect(client: MqttClient, clientId: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let lastError: Error | undefined
    const onError = (err: Error): void => {
      lastError = err
    }
    const onConnect = (): void => {
      cleanup()
      resolve()
    }
    const timer = setTimeout(() => {
      cleanup()
      const cause = lastError === undefined ? '' : `: ${lastError.message}`
      reject(new Error(`demo device ${clientId} got no CONNACK within ${CONNECT_TIMEOUT_MS} ms${cause}`))
    }, CONNECT_TIMEOUT_MS)
    const cleanup = (): void => {
      clearTimeout(timer)
      client.off('connect', onConnect)
      client.off('error', onError)
    }
    client.on('connect', onConnect)
    client.on('error', onError)
  })
}

function endClient(client: MqttClient): Promise<void> {
  return new Promise<void>((resolve) => {
    // a stream that already closed (the flapping device between connections) never emits 'close' again,
    // and end() waits for exactly that
    const alreadyClosed = client.stream.destroyed
    const timer = setTimeout(resolve, END_TIMEOUT_MS)
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    client.end(true, done)
    if (alreadyClosed) done()
  })
}

function withTimeout<A>(work: Promise<A>, ms: number, what: string): Promise<A> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not acknowledged within ${ms} ms`)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}
