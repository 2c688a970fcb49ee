/** mqtt_subscribe_and_collect: a bounded window of messages on one or more filters, pruned for the model. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { filter as keep } from 'rxjs'
import * as err from '../errors.js'
import { described, int, object, oneOf, optional, str } from '../mcp/codec.js'
import { countRules, initialPrune, pruneResult, pruneStep, type PruneResult, type PruneRule, type PruneState } from '../streams/prune.js'
import type { QoS } from '../streams/types.js'
import { initialWindowStats, windowStatsStep, windowStatsView, type WindowStats } from '../streams/window-stats.js'
import { nullableString, sessionIdField, withSession } from './common.js'
import { messageView, messageViewCodec, type MessageView } from './message-view.js'
import { defineTool } from './tool.js'
import { gapsBetween, runWindow, subscribeAll, validateFilters } from './window.js'

const input = object(
  {
    session_id: sessionIdField,
    topic: optional(described(str(1, 65535), 'One topic filter, e.g. sensors/+/temperature or zigbee2mqtt/#. Give topic or topics.')),
    topics: optional(described(t.array(str(1, 65535)), 'Several topic filters (1..20); a message matching more than one is collected once.')),
    duration_seconds: optional(described(int(1, 300), 'How long to collect, in seconds.'), 30),
    max_messages: optional(described(int(1, 1_000_000), 'Stop after this many messages (at most 500 unless the server is configured higher).'), 100),
    target_count: optional(described(int(1, 500), 'How many messages the result shows after pruning.'), 50),
    qos: optional(described(oneOf([0, 1, 2] as const), 'Subscription QoS.'), 0),
    include_retained: optional(described(t.boolean, 'Include retained messages delivered on subscribe.'), true),
    max_payload_bytes: optional(described(int(16, 1_048_576), 'Show at most this many bytes of each payload (full size_bytes is always given).'), 1024),
  },
  'mqtt_subscribe_and_collect',
)

const output = object({
  session_id: t.string,
  filters: t.array(t.string),
  messages: t.array(messageViewCodec),
  statistics: object({
    total_received: t.number,
    per_topic: t.record(t.string, t.number),
    messages_per_second: t.number,
    first_at: nullableString,
    last_at: nullableString,
    bytes: t.number,
  }),
  stopped_by: t.keyof({ duration: null, limit: null, cancelled: null, closed: null }),
  interruptions: t.array(object({ start: t.string, end: nullableString, error: t.string })),
  pruning: object({
    seen: t.number,
    kept: t.number,
    dropped: t.number,
    by_rule: object({ error: t.number, first_last: t.number, sample: t.number }),
    summary: t.array(t.string),
  }),
  truncated: t.boolean,
})

type Collected = { prune: PruneState; stats: WindowStats }

/** `per_topic` with its first `n` topics (busiest first) and the rest summed under "(other topics)". */
function firstTopics(perTopic: Record<string, number>, n: number): Record<string, number> {
  const entries = Object.entries(perTopic)
  if (entries.length <= n) return perTopic
  const out: Record<string, number> = {}
  let other = 0
  for (const [i, [topic, count]] of entries.entries()) {
    if (i < n && topic !== '(other topics)') out[topic] = count
    else other += count
  }
  out['(other topics)'] = other
  return out
}

/** The first `n` lines of the pruning summary, then one line for the rest. */
function firstLines(summary: readonly string[], n: number): string[] {
  return summary.length <= n ? [...summary] : [...summary.slice(0, n), `… and ${summary.length - n} more topics with dropped messages`]
}

const stats = (body: object): { per_topic: object } => (body as { statistics: { per_topic: object } }).statistics

/**
 * Shrinks the result until its JSON fits `budget` characters: payload caps first, then the shown messages and
 * the per-topic lists (statistics.per_topic, pruning.summary; one line per topic, so many topics alone can
 * exceed the budget), whichever is larger.
 */
function fitToBudget(
  r: PruneResult,
  maxPayloadBytes: number,
  build: (messages: MessageView[], rules: readonly PruneRule[], topics: number) => object,
  budget: number,
): { body: object; truncated: boolean } {
  let cap = maxPayloadBytes
  let kept = r.kept.map((m, i) => ({ m, rule: r.rules[i]! }))
  let topics = Number.MAX_SAFE_INTEGER
  let truncated = false
  for (;;) {
    const views = kept.map((k) => messageView(k.m, cap))
    const body = build(views, kept.map((k) => k.rule), topics)
    const size = JSON.stringify(body).length
    if (size <= budget) return { body, truncated }
    truncated = true
    const messagesSize = JSON.stringify(views).length
    // topic lines listed now: per_topic entries or summary lines, whichever are more
    const listed = Math.min(topics, Math.max(Object.keys(stats(body).per_topic).length, r.summary.length))
    if (cap > 64) cap = Math.max(64, Math.floor(cap / 2))
    else if (listed > 0 && (messagesSize < size - messagesSize || kept.length <= 1)) topics = Math.floor(listed / 2)
    else if (kept.length > 1) kept = kept.filter((_, i) => i % 2 === 0)
    else return { body, truncated }
  }
}

export const subscribeAndCollect = defineTool({
  name: 'mqtt_subscribe_and_collect',
  title: 'Collect MQTT messages for a time window',
  description: [
    'Subscribes to one filter (topic) or several (topics) and collects messages until duration_seconds (30, max 300) pass, max_messages (100) arrive, or the call is cancelled; then prunes them to target_count (50) for your context.',
    'Pruning keeps error/warning-looking messages (up to half), the first and last message of every topic, and a time-spread sample of distinct payload shapes; pruning.summary says what was dropped per topic (count, value range).',
    'Payloads: JSON as JSON, UTF-8 text as text, other bytes as base64; each capped at max_payload_bytes (1024) with the full size_bytes. Returns statistics per topic, stopped_by (duration | limit | cancelled | closed) and reconnect interruptions.',
    'Sends progress notifications each second when the request has a progressToken.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (args, ctx) => {
    const named = args.topics !== undefined ? args.topics.map((filter, i) => ({ field: `topics[${i}]`, filter })) : args.topic !== undefined ? [{ field: 'topic', filter: args.topic }] : []
    if (named.length === 0 || (args.topic !== undefined && args.topics !== undefined) || named.length > 20) {
      return E.left(
        err.invalidInput({
          message: 'Give exactly one of topic (a filter) or topics (1 to 20 filters).',
          fields: [{ field: 'topic', expected: 'a topic filter such as sensors/#, or topics: ["a/#", "b/+"]' }],
        }),
      )
    }
    const filters = validateFilters(named)
    if (E.isLeft(filters)) return filters
    const limit = ctx.config.maxMessagesLimit
    if (args.max_messages > limit) {
      return E.left(err.invalidInput({ message: `max_messages: at most ${limit} on this server (MQTT_MCP_MAX_MESSAGES).`, fields: [{ field: 'max_messages', expected: `an integer from 1 to ${limit}` }] }))
    }
    return withSession(ctx, args.session_id, async (session) => {
      const source = subscribeAll(session, filters.right, args.qos as QoS).pipe(keep((m) => args.include_retained || !m.retain))
      const window = await runWindow<Collected>(
        ctx,
        source,
        { durationMs: args.duration_seconds * 1000, limit: args.max_messages },
        (s, m) => {
          pruneStep(s.prune, m)
          windowStatsStep(s.stats, m)
          return s
        },
        () => ({ prune: initialPrune({ targetCount: args.target_count, keepBytes: args.max_payload_bytes }), stats: initialWindowStats() }),
        (n) => `${n} messages collected`,
      )
      if (E.isLeft(window)) return window
      const w = window.right
      const pruned = pruneResult(w.state.prune)
      const statistics = windowStatsView(w.state.stats, w.endedAt - w.startedAt)
      const base = {
        session_id: session.id,
        filters: filters.right,
        statistics,
        stopped_by: w.stoppedBy,
        interruptions: gapsBetween(session, w.startedAt, w.endedAt),
        pruning: { seen: pruned.seen, kept: pruned.keptCount, dropped: pruned.dropped, by_rule: pruned.byRule, summary: [...pruned.summary] },
      }
      // kept, dropped and by_rule count what is shown: the budget may cut messages pruning kept
      const build = (messages: MessageView[], rules: readonly PruneRule[], topics: number) => ({
        ...base,
        statistics: { ...statistics, per_topic: firstTopics(statistics.per_topic, topics) },
        pruning: { ...base.pruning, kept: messages.length, dropped: pruned.seen - messages.length, by_rule: countRules(rules), summary: firstLines(pruned.summary, topics) },
        messages,
        truncated: false,
      })
      const { body, truncated } = fitToBudget(pruned, args.max_payload_bytes, build, Math.floor(ctx.config.outputBudgetChars * 0.95))
      return E.right({ ...(body as typeof base & { messages: MessageView[] }), truncated })
    })
  },
})
