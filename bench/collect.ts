/**
 * Collection windows as the scenarios run them: open a `mqtt_subscribe_and_collect` call, wait until the broker
 * granted its subscriptions (so the publisher may start), and end it cleanly when messages stop coming.
 */
import { performance } from 'node:perf_hooks'
import { sleep } from './children.js'
import { BENCH_TOPICS, runLoad, type LoadResult, type MixName } from './load.js'
import { cpuMeter, type BenchServer, type ToolAnswer } from './server.js'

export interface CollectOutput {
  readonly session_id: string
  readonly filters: string[]
  readonly statistics: {
    readonly total_received: number
    readonly messages_per_second: number
    readonly first_at: string | null
    readonly last_at: string | null
    readonly bytes: number
  }
  readonly stopped_by: 'duration' | 'limit' | 'cancelled' | 'closed'
  readonly pruning: { readonly seen: number; readonly kept: number; readonly dropped: number }
  readonly truncated: boolean
}

export interface SessionInfo {
  readonly session_id: string
  readonly subscriptions: ReadonlyArray<{ filter: string; qos: number; granted: number | null; shared_by: number }>
  readonly messages_received: number
}

export interface WindowArgs {
  readonly sessionId: string
  /** One filter (topic) or several (topics). */
  readonly filters: readonly string[]
  readonly durationSeconds: number
  readonly maxMessages: number
  readonly qos?: 0 | 1
  readonly targetCount?: number
}

const verbose = (line: string): void => {
  if (process.env['BENCH_VERBOSE'] === '1') console.error(`  [${(performance.now() / 1000).toFixed(1)} s] ${line}`)
}

/** The session as mqtt_list_active_connections shows it. */
export async function sessionInfo(server: BenchServer, sessionId: string): Promise<SessionInfo> {
  const r = await server.ok<{ sessions: SessionInfo[] }>('mqtt_list_active_connections', {})
  const s = r.structured.sessions.find((x) => x.session_id === sessionId)
  if (s === undefined) throw new Error(`session ${sessionId} is not listed`)
  return s
}

/** Polls until every filter is granted by the broker and, when given, `refs` streams share them. */
export async function waitForGrants(server: BenchServer, sessionId: string, filters: readonly string[], refs?: number, timeoutMs = 15_000): Promise<SessionInfo> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const s = await sessionInfo(server, sessionId)
    const granted = filters.every((f) => s.subscriptions.some((x) => x.filter === f && x.granted !== null))
    const shared = s.subscriptions.reduce((n, x) => n + x.shared_by, 0)
    if (granted && (refs === undefined || shared >= refs)) return s
    if (performance.now() > deadline) throw new Error(`subscriptions not granted within ${timeoutMs} ms: ${JSON.stringify(s.subscriptions)}`)
    await sleep(25)
  }
}

/** Starts a window; resolves once its subscriptions are granted, with the answer still to come. */
export async function openWindow(server: BenchServer, args: WindowArgs): Promise<{ answer: Promise<ToolAnswer<CollectOutput>> }> {
  const answer = startWindow(server, args)
  await Promise.race([waitForGrants(server, args.sessionId, args.filters), answer.then(() => Promise.reject(new Error('the window ended before it was granted')))])
  return { answer }
}

/** Starts a window without waiting for anything (for many windows at once). */
export function startWindow(server: BenchServer, args: WindowArgs): Promise<ToolAnswer<CollectOutput>> {
  const where = args.filters.length === 1 ? { topic: args.filters[0] } : { topics: args.filters }
  const answer = server.ok<CollectOutput>(
    'mqtt_subscribe_and_collect',
    {
      session_id: args.sessionId,
      ...where,
      duration_seconds: args.durationSeconds,
      max_messages: args.maxMessages,
      qos: args.qos ?? 0,
      target_count: args.targetCount ?? 50,
    },
    (args.durationSeconds + 60) * 1000,
  )
  answer.catch(() => undefined) // awaited by the caller; never unhandled meanwhile
  return answer
}

/**
 * Waits for windows that stop at their limit when everything arrives; when messages were lost they would run to
 * their duration, so once the session's message counter has not moved for `quietMs` the session is closed,
 * which ends its windows with stopped_by "closed" and what they gathered.
 */
export async function endWhenQuiet<T>(server: BenchServer, sessionId: string, windows: Promise<T>, quietMs = 1000): Promise<{ value: T; closedEarly: boolean }> {
  let done = false
  const settled = windows.finally(() => (done = true))
  let last = -1
  let stableSince = performance.now()
  while (!done) {
    await Promise.race([settled.catch(() => undefined), sleep(100)])
    if (done) break
    const n = (await sessionInfo(server, sessionId).catch(() => undefined))?.messages_received ?? last
    if (n !== last) {
      last = n
      stableSince = performance.now()
    } else if (performance.now() - stableSince > quietMs) {
      await server.ok('mqtt_close_connection', { session_id: sessionId })
      return { value: await settled, closedEarly: true }
    }
  }
  return { value: await settled, closedEarly: false }
}

/** Receive rate of a window: (total - 1) over first_at … last_at, per second (ms resolution). */
export function windowRate(s: CollectOutput['statistics']): number {
  if (s.first_at === null || s.last_at === null || s.total_received < 2) return 0
  const spanMs = Date.parse(s.last_at) - Date.parse(s.first_at)
  return spanMs > 0 ? ((s.total_received - 1) / spanMs) * 1000 : 0
}

export interface FeedOptions {
  /** The broker the publisher publishes to (the session's). */
  readonly url: string
  readonly sessionId: string
  readonly filters: readonly string[]
  /** Messages to publish. */
  readonly count: number
  /** Publish rate, msg/s. */
  readonly rate: number
  readonly qos: 0 | 1
  readonly mix: MixName
  /** The window's max_messages; `count` by default, so that a window that gets everything stops at once. */
  readonly maxMessages?: number
  readonly durationSeconds?: number
}

export interface FeedResult {
  readonly output: CollectOutput
  readonly load: LoadResult
  /** The window did not get everything and was ended by closing its session. */
  readonly closedEarly: boolean
  /** Server CPU from the first publish to the window's answer. */
  readonly cpuMs: number
  /** The window's receive rate, first to last message. */
  readonly rate: number
  /** Text length of the tool result. */
  readonly resultChars: number
}

/**
 * One window on `filters`, fed by the publisher at `rate` with `count` messages of `mix` over the 1,000 bench
 * topics. `hooks` run when publishing starts and when it is done (probes, RSS sampling).
 */
export async function feedWindow(server: BenchServer, o: FeedOptions, hooks: { loadStarted?(): void; loadDone?(): Promise<void> | void } = {}): Promise<FeedResult> {
  const durationSeconds = o.durationSeconds ?? Math.min(300, Math.ceil((o.count / o.rate) * 3) + 15)
  const t0 = performance.now()
  const { answer } = await openWindow(server, { sessionId: o.sessionId, filters: o.filters, durationSeconds, maxMessages: o.maxMessages ?? o.count, qos: o.qos })
  const t1 = performance.now()
  const cpu = cpuMeter(server.pid)
  hooks.loadStarted?.()
  const load = await runLoad({ url: o.url, count: o.count, qos: o.qos, topics: BENCH_TOPICS, mix: o.mix, window: o.qos === 0 ? 1000 : 100, rate: o.rate })
  await hooks.loadDone?.()
  const t2 = performance.now()
  const { value, closedEarly } = await endWhenQuiet(server, o.sessionId, answer)
  const { cpuMs } = cpu.stop()
  verbose(`window ${o.filters.join(',')} ${o.mix}: granted in ${(t1 - t0).toFixed(0)} ms, published ${o.count} in ${(t2 - t1).toFixed(0)} ms (${load.elapsedMs.toFixed(0)} ms publishing), answer after ${(performance.now() - t2).toFixed(0)} ms${closedEarly ? ' (closed early)' : ''}`)
  return { output: value.structured, load, closedEarly, cpuMs, rate: windowRate(value.structured.statistics), resultChars: value.text.length }
}
