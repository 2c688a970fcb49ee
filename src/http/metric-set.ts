/**
 * The server's Prometheus metrics, in a registry of its own per HTTP app (never prom-client's global one, so
 * tests and several apps in one process never clash). Most are read when scraped (sessions, messages, feed
 * clients); tool calls are counted as they finish. Labels name a tool, an outcome, a state or a session by
 * its short id and name: never a broker URL, a credential or a topic, and never more series than sessions.
 *
 *   registry.list()  ─┐
 *   meter, feed      ─┼─ collect() at scrape ─▶ gauges and counters ─┐
 *   toolCalls.changes$ ─ finished ─▶ counter + histogram ────────────┼─▶ text (with the process metrics)
 *   processMetrics() (once per process) ─────────────────────────────┘
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { filter, type Subscription } from 'rxjs'
import type { ToolCallLog, ToolCallRecord } from '../activity.js'
import type { SessionRegistry } from '../sessions/registry.js'
import type { Session, SessionState } from '../sessions/session.js'

export interface MetricSetDeps {
  readonly registry: SessionRegistry
  readonly toolCalls: ToolCallLog
  /** Messages received since start, closed sessions included. */
  readonly receivedTotal: () => number
  readonly feedCounts: () => { clients: number; dropped_clients: number }
}

export interface MetricSet {
  /** The Prometheus text format's content type. */
  readonly contentType: string
  /** Every metric as Prometheus text: this app's, then the process's. */
  readonly render: () => Promise<string>
  /** Ends the subscriptions (the app closing). */
  readonly stop: () => void
}

/** Prefix of the server's own metrics (the process metrics keep their standard names). */
export const METRIC_PREFIX = 'mqtt_mcp_'

/** Tool call duration buckets, in seconds: a publish takes milliseconds, a collecting window up to minutes. */
export const TOOL_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

const STATES: readonly SessionState[] = ['connecting', 'connected', 'reconnecting', 'closed']

/** A session's labels: the first 8 characters of its id (unique enough among max_sessions) and its name. */
export const sessionLabels = (s: Session): { session: string; name: string } => ({ session: s.id.slice(0, 8), name: s.name ?? '' })

let processRegistry: Registry | undefined

/**
 * Node's process metrics (CPU, memory, heap, event loop lag, GC, handles), prom-client's defaults under their
 * standard names. Made once per process and shared: collectDefaultMetrics (prom-client 15) starts an event
 * loop delay monitor and a GC observer that it gives no way to stop, so one per app would pile up with every
 * app a process builds (tests build hundreds). Neither keeps the process alive, and they hold no app state.
 */
export function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** Creates the metrics of one app; call `stop` when the app closes. */
export function createMetricSet(deps: MetricSetDeps): MetricSet {
  const { registry, toolCalls } = deps
  const register = new Registry()
  const registers = [register]
  const name = (n: string): string => METRIC_PREFIX + n
  let closedReconnects = 0

  new Gauge({
    name: name('sessions'),
    help: 'Open sessions by state.',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = new Map(STATES.map((s) => [s, 0]))
      for (const s of registry.list()) counts.set(s.state, (counts.get(s.state) ?? 0) + 1)
      for (const [state, n] of counts) this.set({ state }, n)
    },
  })
  new Counter({
    name: name('reconnects_total'),
    help: 'Reconnections of every session since start, closed sessions included.',
    registers,
    collect() {
      this.reset()
      this.inc(closedReconnects + registry.list().reduce((sum, s) => sum + s.reconnects, 0))
    },
  })
  new Counter({
    name: name('messages_received_total'),
    help: 'Messages received by every session since start, closed sessions included.',
    registers,
    collect() {
      this.reset()
      this.inc(deps.receivedTotal())
    },
  })
  // per session: a series lives as long as its session, so there are never more than max_sessions
  new Counter({
    name: name('session_messages_received_total'),
    help: 'Messages an open session received (session: the first 8 characters of its id).',
    labelNames: ['session', 'name'],
    registers,
    collect() {
      this.reset()
      for (const s of registry.list()) this.inc(sessionLabels(s), s.messagesReceived)
    },
  })
  new Counter({
    name: name('session_received_bytes_total'),
    help: 'Payload bytes an open session received (session: the first 8 characters of its id).',
    labelNames: ['session', 'name'],
    registers,
    collect() {
      this.reset()
      for (const s of registry.list()) this.inc(sessionLabels(s), s.bytesReceived)
    },
  })
  new Gauge({
    name: name('windows_open'),
    help: 'What holds sessions open now: tool calls running on a session plus the message streams of their windows (the sum of the sessions\' in-use counts; the live feed never counts).',
    registers,
    collect() {
      this.set(registry.list().reduce((sum, s) => sum + s.inUse, 0))
    },
  })
  new Gauge({
    name: name('broker_subscriptions'),
    help: 'Subscriptions held at the brokers (one per filter and session, however many windows share it).',
    registers,
    collect() {
      this.set(registry.list().reduce((sum, s) => sum + s.subscriptions().length, 0))
    },
  })
  new Gauge({
    name: name('feed_clients'),
    help: 'Live feed (/ws) clients connected now.',
    registers,
    collect() {
      this.set(deps.feedCounts().clients)
    },
  })
  new Counter({
    name: name('feed_dropped_clients_total'),
    help: 'Live feed clients closed because they fell behind (their socket buffer passed the bound).',
    registers,
    collect() {
      this.reset()
      this.inc(deps.feedCounts().dropped_clients)
    },
  })
  const calls = new Counter({
    name: name('tool_calls_total'),
    help: 'Finished tool calls by tool and outcome (ok or error).',
    labelNames: ['tool', 'outcome'],
    registers,
  })
  const durations = new Histogram({
    name: name('tool_call_duration_seconds'),
    help: 'How long finished tool calls took, by tool.',
    labelNames: ['tool'],
    buckets: TOOL_DURATION_BUCKETS,
    registers,
  })

  const count = (call: ToolCallRecord): void => {
    calls.inc({ tool: call.tool, outcome: call.outcome })
    if (call.duration_ms !== null) durations.observe({ tool: call.tool }, call.duration_ms / 1000)
  }
  const subs: Subscription[] = [
    // tool names come from the registered tools only (an unknown name is refused before it is logged)
    toolCalls.changes$.pipe(filter((call) => call.outcome !== 'running')).subscribe(count),
    registry.events$.subscribe((e) => {
      if (e.type === 'closed') closedReconnects += e.session.reconnects
    }),
  ]
  // calls that finished before this app was built (the page starts after the MCP handshake)
  for (const call of toolCalls.recent()) if (call.outcome !== 'running') count(call)

  return {
    contentType: register.contentType,
    render: async () => (await register.metrics()) + (await processMetrics().metrics()),
    stop: () => {
      for (const s of subs) s.unsubscribe()
      register.clear()
    },
  }
}
