/** Counts of a collection window: totals, bytes, first/last arrival and per-topic counts (bounded). */
import type { Message } from './types.js'

export interface WindowStats {
  total: number
  bytes: number
  firstAt: number | undefined
  lastAt: number | undefined
  readonly perTopic: Map<string, number>
  /** Messages on topics beyond `maxTopics`, counted together. */
  otherTopics: number
  readonly maxTopics: number
}

/** Fresh counts; at most `maxTopics` topics are counted one by one. */
export const initialWindowStats = (maxTopics = 1000): WindowStats => ({
  total: 0,
  bytes: 0,
  firstAt: undefined,
  lastAt: undefined,
  perTopic: new Map(),
  otherTopics: 0,
  maxTopics,
})

/** Adds one message (in place, for speed: one state per window). */
export function windowStatsStep(s: WindowStats, m: Message): WindowStats {
  s.total++
  s.bytes += m.payload.length
  s.firstAt ??= m.receivedAt
  s.lastAt = m.receivedAt
  const n = s.perTopic.get(m.topic)
  if (n !== undefined) s.perTopic.set(m.topic, n + 1)
  else if (s.perTopic.size < s.maxTopics) s.perTopic.set(m.topic, 1)
  else s.otherTopics++
  return s
}

/** The counts as the tool shows them; the rate is over the window's duration in ms. */
export function windowStatsView(s: WindowStats, windowMs: number) {
  const perTopic: Record<string, number> = {}
  for (const [topic, n] of [...s.perTopic.entries()].sort((a, b) => b[1] - a[1])) perTopic[topic] = n
  if (s.otherTopics > 0) perTopic['(other topics)'] = s.otherTopics
  return {
    total_received: s.total,
    per_topic: perTopic,
    messages_per_second: windowMs > 0 ? Math.round((s.total / windowMs) * 1000 * 100) / 100 : 0,
    first_at: s.firstAt === undefined ? null : new Date(s.firstAt).toISOString(),
    last_at: s.lastAt === undefined ? null : new Date(s.lastAt).toISOString(),
    bytes: s.bytes,
  }
}
