/**
 * mqtt_monitor_performance: traffic figures for a filter over a window (the traffic reducer lifted over one
 * QoS 0 subscription), and optionally round-trip times of timestamped probes published at QoS 0, 1 and 2 on
 * a private topic while the window runs.
 *
 *   filter ──(minus the probe topic)──▶ trafficStep ──▶ overall · per topic (top by rate) · silent topics
 *   probe:  SUBSCRIBE p (QoS 2) ─▶ SUBACK ─▶ 5 × PUBLISH p at QoS 0, 1, 2 ─▶ echo on p ─▶ rtt min / p50 / max
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { filter as keep, firstValueFrom, from, map, NEVER, race, ReplaySubject, Subject, take, timer, type Observable } from 'rxjs'
import type { AppError } from '../errors.js'
import { described, int, object, optional, str } from '../mcp/codec.js'
import { topicMatches } from '../mqtt/topic.js'
import type { Session } from '../sessions/session.js'
import { initialTraffic, trafficStep, trafficView, type SilentTopic, type TrafficFigures, type TrafficState } from '../streams/traffic.js'
import type { QoS } from '../streams/types.js'
import { nullableNumber, nullableString, sessionIdField, withSession } from './common.js'
import { checkPublishAllowed } from './publish-policy.js'
import { defineTool, type ToolContext } from './tool.js'
import { gapsBetween, runWindow, subscribeAll, validateFilters } from './window.js'

const input = object(
  {
    session_id: sessionIdField,
    topic: optional(described(str(1, 65535), 'Topic filter to measure, e.g. # (everything but $SYS) or plant/#.'), '#'),
    duration_seconds: optional(described(int(5, 1800), 'How long to measure, in seconds. Rates are over the whole window.'), 60),
    latency_probe: optional(
      described(
        t.boolean,
        'Also measure broker round trips: publishes 5 timestamped probes each at QoS 0, 1 and 2 on a private topic bitsperity-mqtt-mcp/probe/<random> and times their return. This publishes: in read-only mode or outside the publish allow-list it is skipped with a note.',
      ),
      false,
    ),
  },
  'mqtt_monitor_performance',
)

const figuresFields = {
  messages: described(t.number, 'Live messages (retained replays are not traffic).'),
  retained: t.number,
  messages_per_second: t.number,
  bytes_per_second: t.number,
  bytes: t.number,
  size_bytes: t.union([object({ min: t.number, p50: t.number, p95: t.number, max: t.number }), t.null]),
  inter_arrival_ms: t.union([object({ p50: t.number, p95: t.number }), t.null]),
  jitter_ms: described(nullableNumber, 'p95 − p50 of the gaps between messages, in ms.'),
  bursts: described(t.array(object({ at: t.string, messages: t.number })), 'Seconds with more than 3 × the median per-second count (floor 1), largest first; at most a few.'),
  burst_seconds: t.number,
  duplicates: described(t.number, 'Messages whose payload equals the previous one on the same topic.'),
  first_at: nullableString,
  last_at: nullableString,
}
const figures = object(figuresFields)
const topicFigures = object({ topic: t.string, ...figuresFields })
const latencyStats = t.union([
  object({ sent: t.number, received: t.number, min: nullableNumber, p50: nullableNumber, max: nullableNumber, delivered_qos: nullableNumber }),
  t.null,
])

const output = object({
  session_id: t.string,
  filter: t.string,
  stopped_by: t.keyof({ duration: null, limit: null, cancelled: null, closed: null }),
  window_seconds: t.number,
  topic_count: t.number,
  overall: figures,
  per_topic: described(t.array(topicFigures), 'Topics with the most messages first; as many as fit the output budget (per_topic_shown of topic_count).'),
  per_topic_shown: t.number,
  other_topics: described(t.union([figures, t.null]), 'Topics beyond the first 1000, summed (no gaps or duplicates); null when none.'),
  silent_topics: described(
    t.array(object({ topic: t.string, last_seen: t.string, silent_ms: t.number, period_ms: nullableNumber, reason: t.keyof({ overdue: null, quiet: null, retained_only: null }) })),
    'Topics seen before and quiet now: overdue (quiet > 3 × their median gap), quiet (no period; nothing in the last third of the window), retained_only (only the retained value was seen).',
  ),
  silent_topics_total: t.number,
  latency: optional(
    described(
      object({ topic: t.string, granted_qos: nullableNumber, qos0: latencyStats, qos1: latencyStats, qos2: latencyStats }),
      'Round trips of the probes in ms (publish to echo through our own subscription); null for a QoS that was not measured.',
    ),
  ),
  interruptions: t.array(object({ start: t.string, end: nullableString, error: t.string })),
  notes: t.array(t.string),
  truncated: t.boolean,
})

type Output = t.TypeOf<typeof output>
type Latency = NonNullable<Output['latency']>
type LatencyStats = Latency['qos0']

const PROBE_PREFIX = 'bitsperity-mqtt-mcp/probe/'
const PROBES_PER_QOS = 5
const PROBE_TIMEOUT_MS = 2_000
const SUBACK_TIMEOUT_MS = 5_000
const PROBE_SPACING_MS = 100
const MAX_PER_TOPIC = 200
const MAX_SILENT = 50

// -------------------------------------------------------------------------------------
// latency probe
// -------------------------------------------------------------------------------------

interface Echo {
  readonly key: string
  readonly at: number
  readonly qos: QoS
}

/** Resolves with the first value of `source`, or undefined after `ms` on the context's scheduler (the timer is dropped when the value wins). */
function within<A>(ctx: ToolContext, source: Observable<A>, ms: number): Promise<A | undefined> {
  return firstValueFrom(race(source.pipe(take(1)), timer(ms, ctx.scheduler).pipe(map((): undefined => undefined))), { defaultValue: undefined })
}

/**
 * Publishes timestamped probes on `topic` and times their echo through our own QoS 2 subscription. Never fails:
 * what could not be measured is null with a note (a QoS the broker refuses, a subscription it rejects, probes
 * that never come back). Round trips use the high-resolution clock: the scheduler's ms clock is too coarse
 * for a broker on loopback.
 */
async function probeLatency(session: Session, ctx: ToolContext, topic: string, overlaps: boolean, notes: string[]): Promise<Latency> {
  const latency: Latency = { topic, granted_qos: null, qos0: null, qos1: null, qos2: null }
  const echoes = new Subject<Echo>()
  const granted = new ReplaySubject<QoS | AppError>(1)
  const delivered = new Map<QoS, QoS>()
  const subscription = session.subscribe(topic, 2, (g) => granted.next(g)).subscribe({
    next: (m) => {
      const at = performance.now()
      const key = keyOf(m.payload)
      if (key === undefined) return
      const sent = Number(key.split(':')[0]) as QoS
      delivered.set(sent, Math.max(delivered.get(sent) ?? 0, m.qos) as QoS)
      echoes.next({ key, at, qos: m.qos })
    },
    error: (e: AppError) => granted.next(e),
  })
  try {
    const g = await within(ctx, granted, SUBACK_TIMEOUT_MS)
    if (g === undefined || typeof g !== 'number') {
      notes.push(`Latency probe skipped: the probe subscription ${g === undefined ? `got no SUBACK within ${SUBACK_TIMEOUT_MS / 1000} s` : `was refused (${g.message})`}.`)
      return latency
    }
    latency.granted_qos = g
    if (g < 2) notes.push(`The broker granted QoS ${g} for the QoS 2 probe subscription: higher-QoS probes came back at QoS ${g}.`)
    const maxQos = session.connack?.maximumQoS
    const nonce = randomBytes(4).toString('hex')
    let lowered = false
    for (const qos of [0, 1, 2] as const) {
      if (ctx.signal.aborted) break
      if (maxQos !== undefined && qos > maxQos) {
        notes.push(`QoS ${qos} probes skipped: the broker accepts at most QoS ${maxQos} (CONNACK Maximum QoS).`)
        continue
      }
      const rtts: number[] = []
      let sent = 0
      let lost = 0
      for (let seq = 0; seq < PROBES_PER_QOS && !ctx.signal.aborted; seq++) {
        // spaced out: a probe sent right behind the previous echo's PUBACK waits for a delayed TCP ACK (Nagle), ~40 ms
        await within(ctx, NEVER, PROBE_SPACING_MS)
        const key = `${qos}:${seq}:${nonce}`
        const payload = Buffer.from(JSON.stringify({ probe: key, qos, seq, sent_at: new Date(ctx.scheduler.now()).toISOString() }))
        // listen before publishing: on loopback the echo can beat the publish call's own completion
        const echo = within(ctx, echoes.pipe(keep((e) => e.key === key)), PROBE_TIMEOUT_MS)
        const t0 = performance.now()
        const ack = within(ctx, from(session.publish(topic, payload, { qos, retain: false })), PROBE_TIMEOUT_MS)
        sent++
        const [got, acked] = await Promise.all([echo, ack])
        if (acked !== undefined && E.isLeft(acked)) {
          notes.push(`QoS ${qos} probe failed: ${acked.left.message} (the broker may not support QoS ${qos}).`)
          break
        }
        if (got === undefined) {
          if (++lost >= 2) {
            notes.push(`QoS ${qos} probes stopped: ${lost} did not come back within ${PROBE_TIMEOUT_MS / 1000} s.`)
            break
          }
          continue
        }
        rtts.push(got.at - t0)
      }
      latency[`qos${qos}`] = statsOf(sent, rtts, delivered.get(qos))
      const d = delivered.get(qos)
      if (d !== undefined && d < Math.min(qos, g)) {
        if (overlaps) lowered = true
        else notes.push(`QoS ${qos} probes were delivered at QoS ${d}: the broker downgraded them.`)
      }
    }
    if (lowered) {
      notes.push(
        'The measured filter also matches the probe topic, and this broker delivered each probe once, at the QoS 0 of that subscription: delivered_qos shows that, not a downgrade. Measure a narrower filter to see the delivered QoS.',
      )
    }
    return latency
  } finally {
    subscription.unsubscribe()
    echoes.complete()
  }
}

function keyOf(payload: Buffer): string | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as unknown
    const probe = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['probe'] : undefined
    return typeof probe === 'string' ? probe : undefined
  } catch {
    return undefined
  }
}

function statsOf(sent: number, rtts: number[], delivered: QoS | undefined): LatencyStats {
  const sorted = [...rtts].sort((a, b) => a - b)
  const r = (x: number | undefined): number | null => (x === undefined ? null : Math.round(x * 100) / 100)
  return {
    sent,
    received: sorted.length,
    min: r(sorted[0]),
    p50: r(sorted[Math.ceil(sorted.length / 2) - 1]),
    max: r(sorted[sorted.length - 1]),
    delivered_qos: delivered ?? null,
  }
}

// -------------------------------------------------------------------------------------
// result
// -------------------------------------------------------------------------------------

const isoOf = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

function shown<F extends TrafficFigures>(f: F) {
  return {
    ...f,
    bursts: f.bursts.map((b) => ({ at: new Date(b.at).toISOString(), messages: b.messages })),
    first_at: isoOf(f.first_at),
    last_at: isoOf(f.last_at),
  }
}

const silentShown = (s: SilentTopic) => ({ ...s, last_seen: new Date(s.last_seen).toISOString() })

export const monitorPerformance = defineTool({
  name: 'mqtt_monitor_performance',
  title: 'Measure MQTT traffic and latency',
  description: [
    'Measures traffic on topic (default #) for duration_seconds (60, 5..1800) with one QoS 0 subscription. Returns overall and per-topic figures (busiest first, as many as fit):',
    'messages_per_second, bytes_per_second, size_bytes {min,p50,p95,max}, inter_arrival_ms {p50,p95}, jitter_ms (p95 − p50 of the gaps), bursts (seconds over 3 × the median per-second count), duplicates (payload equal to the previous one on its topic);',
    'silent_topics (seen before, quiet now); quantiles are within 1%. latency_probe (false) also publishes 5 probes each at QoS 0, 1 and 2 on bitsperity-mqtt-mcp/probe/<random> and reports round trips in ms (min/p50/max per QoS); it is skipped with a note when publishing is not allowed.',
    '$SYS broker figures are not read here (see mqtt_broker_stats). Sends progress each second when the request has a progressToken.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  run: async (args, ctx) => {
    const filters = validateFilters([{ field: 'topic', filter: args.topic }])
    if (E.isLeft(filters)) return filters
    return withSession(ctx, args.session_id, async (session) => {
      const notes: string[] = []
      const probeTopic = `${PROBE_PREFIX}${randomBytes(8).toString('hex')}`
      let probing: Promise<Latency | undefined> = Promise.resolve(undefined)
      if (args.latency_probe) {
        const allowed = checkPublishAllowed(ctx.config, probeTopic)
        if (E.isLeft(allowed)) notes.push(`Latency probe skipped: probes are publishes, and ${allowed.left.message}`)
        else probing = probeLatency(session, ctx, probeTopic, topicMatches(filters.right[0]!, probeTopic), notes)
      }
      let state: TrafficState | undefined
      const windowed = runWindow<TrafficState>(
        ctx,
        // probes (ours, or another call's) are not the traffic being measured
        subscribeAll(session, filters.right, 0).pipe(keep((m) => !m.topic.startsWith(PROBE_PREFIX))),
        { durationMs: args.duration_seconds * 1000, limit: Number.MAX_SAFE_INTEGER },
        trafficStep,
        () => (state = initialTraffic({ startedAt: ctx.scheduler.now() })),
        (n) => `${n} messages on ${state?.topics.size ?? 0} topics`,
      )
      const [window, latency] = await Promise.all([windowed, probing])
      if (E.isLeft(window)) return window
      const w = window.right
      const view = trafficView(w.state, w.endedAt)
      notes.push('$SYS broker figures are not included here; mqtt_broker_stats reads them.')
      if (view.overall.messages === 0 && view.overall.retained === 0) notes.push(`Nothing was published on ${args.topic} in ${args.duration_seconds} s and nothing is retained there.`)
      if (view.other !== null) notes.push(`Only the first ${w.state.maxTopics} topics have their own figures; the rest are summed in other_topics.`)
      const base = {
        session_id: session.id,
        filter: filters.right[0]!,
        stopped_by: w.stoppedBy,
        window_seconds: Math.round(view.window_ms / 100) / 10,
        topic_count: view.per_topic.length,
        overall: shown(view.overall),
        other_topics: view.other === null ? null : shown(view.other),
        silent_topics_total: view.silent_topics.length,
        ...(latency !== undefined ? { latency } : {}),
        interruptions: gapsBetween(session, w.startedAt, w.endedAt),
      }
      const budget = Math.floor(ctx.config.outputBudgetChars * 0.95)
      let perTopic = Math.min(MAX_PER_TOPIC, view.per_topic.length)
      let silent = Math.min(MAX_SILENT, view.silent_topics.length)
      let truncated = perTopic < view.per_topic.length || silent < view.silent_topics.length
      for (;;) {
        const result: Output = {
          ...base,
          per_topic: view.per_topic.slice(0, perTopic).map(shown),
          per_topic_shown: perTopic,
          silent_topics: view.silent_topics.slice(0, silent).map(silentShown),
          notes,
          truncated,
        }
        if (JSON.stringify(result).length <= budget) return E.right(result)
        truncated = true
        if (perTopic > 0 && (perTopic >= silent || silent === 0)) perTopic = Math.floor(perTopic / 2)
        else if (silent > 0) silent = Math.floor(silent / 2)
        else return E.right(result)
      }
    })
  },
})
