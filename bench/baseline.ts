/**
 * The baseline every figure is compared with: a plain mqtt.js subscriber that only counts what it receives, in
 * a worker process of its own (bench/workers/subscriber.ts), like the server. Its CPU is read from /proc too.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import mqtt from 'mqtt'
import { acquireWorker, nextMessage, releaseWorker } from './children.js'

export interface SubscribeSpec {
  readonly url: string
  readonly filter: string
  readonly qos: 0 | 1
  /** Report as soon as this many messages arrived. */
  readonly expect: number
  /** …or when nothing arrived for this long after the first message… */
  readonly idleMs: number
  /** …or when nothing at all arrived within this long of subscribing. */
  readonly timeoutMs: number
}

export interface SubscribeResult {
  readonly received: number
  readonly bytes: number
  /** Time between the first and the last message, in ms. */
  readonly spanMs: number
  /** (received - 1) / span, per second; 0 with fewer than two messages. */
  readonly rate: number
  readonly stoppedBy: 'expected' | 'idle' | 'timeout' | 'stopped'
  /** CPU time of the subscriber process from SUBACK to the report, in ms. */
  readonly cpuMs: number
}

/** Connects, subscribes, calls `ready`, then counts until the spec says stop (or `stop()` is called). */
export async function subscribeAndCount(spec: SubscribeSpec, ready: (stop: () => void) => void): Promise<SubscribeResult> {
  const client = await mqtt.connectAsync(spec.url, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    clientId: `bench-sub-${randomBytes(4).toString('hex')}`,
    connectTimeout: 5000,
  })
  let received = 0
  let bytes = 0
  let first = 0
  let last = 0
  let cpu0 = process.cpuUsage()
  /** Set once the SUBACK came: the `timeoutMs` clock starts then. */
  let subscribedAt: number | undefined = undefined
  let finish: (stoppedBy: SubscribeResult['stoppedBy']) => void = () => undefined
  const watch = setInterval(() => {
    const now = performance.now()
    if (received > 0 && now - last > spec.idleMs) finish('idle')
    else if (received === 0 && subscribedAt !== undefined && now - subscribedAt > spec.timeoutMs) finish('timeout')
  }, 50)
  const result = new Promise<SubscribeResult>((resolve) => {
    let finished = false
    finish = (stoppedBy) => {
      if (finished) return
      finished = true
      clearInterval(watch)
      client.removeAllListeners('message')
      const spanMs = last - first
      const cpu = process.cpuUsage(cpu0)
      const cpuMs = (cpu.user + cpu.system) / 1000
      resolve({ received, bytes, spanMs, rate: received > 1 && spanMs > 0 ? ((received - 1) / spanMs) * 1000 : 0, stoppedBy, cpuMs })
    }
  })
  // counting starts before SUBSCRIBE goes out: retained messages may follow the SUBACK at once
  client.on('message', (_topic: string, payload: Buffer) => {
    const now = performance.now()
    if (received === 0) first = now
    last = now
    received++
    bytes += payload.length
    if (received >= spec.expect) finish('expected')
  })
  await client.subscribeAsync(spec.filter, { qos: spec.qos })
  cpu0 = process.cpuUsage()
  subscribedAt = performance.now()
  ready(() => finish('stopped'))
  const r = await result
  await client.endAsync(true).catch(() => undefined)
  return r
}

export interface RunningSubscriber {
  readonly pid: number | undefined
  /** Resolves with the counts when the subscriber stops. */
  readonly result: Promise<SubscribeResult>
  /** Asks it to report now. */
  stop(): void
}

/** Starts a plain subscriber in a worker and resolves once its subscription is acknowledged. */
export async function startPlainSubscriber(spec: SubscribeSpec): Promise<RunningSubscriber> {
  const child = acquireWorker('subscriber')
  const ready = nextMessage(child, (m): m is { type: 'ready' } => (m as { type?: string }).type === 'ready', 10_000, 'plain subscriber')
  // the result may come long after, so its own (generous) timeout starts now
  const result = nextMessage(child, (m): m is { type: 'done'; result: SubscribeResult } => (m as { type?: string }).type === 'done', 600_000, 'plain subscriber').then(
    (m) => {
      releaseWorker('subscriber', child, true)
      return m.result
    },
    (e: unknown) => {
      releaseWorker('subscriber', child, false)
      throw e
    },
  )
  result.catch(() => undefined) // observed by the caller; never unhandled
  child.send({ type: 'run', spec })
  await ready
  return { pid: child.pid, result, stop: () => child.connected && child.send({ type: 'stop' }) }
}
