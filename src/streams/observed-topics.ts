/**
 * What a session has seen, per topic: the last message and counts, kept cheaply on every message (one map
 * write) and rendered into a topic tree only when someone asks (status page, resources). Bounded by maxTopics,
 * and by OBSERVED_PAYLOAD_BYTES a topic: a long payload is kept as its head (see keep-head.ts).
 */
import { keepHead } from './keep-head.js'
import { indexStep, initialTopicIndex, renderTree, type TopicTreeResult } from './topic-tree.js'
import type { Message } from './types.js'

interface Entry {
  last: Message
  live: number
  retained: boolean
}

export interface ObservedTopics {
  readonly maxTopics: number
  readonly topics: Map<string, Entry>
  /** Messages on topics beyond maxTopics. */
  dropped: number
}

/** Bytes of the last payload kept per topic: what a topic resource shows (1 KiB). */
export const OBSERVED_PAYLOAD_BYTES = 1024

/** An empty record that keeps at most `maxTopics` topics (default 10,000). */
export const initialObserved = (maxTopics = 10_000): ObservedTopics => ({ maxTopics, topics: new Map(), dropped: 0 })

/** Records one message (in place). */
export function observeStep(o: ObservedTopics, m: Message): ObservedTopics {
  const e = o.topics.get(m.topic)
  if (e !== undefined) {
    e.last = keepHead(m, OBSERVED_PAYLOAD_BYTES)
    if (m.retain) e.retained = true
    else e.live++
  } else if (o.topics.size < o.maxTopics) {
    o.topics.set(m.topic, { last: keepHead(m, OBSERVED_PAYLOAD_BYTES), live: m.retain ? 0 : 1, retained: m.retain })
  } else {
    o.dropped++
  }
  return o
}

/** The last message seen on `topic`, if any. */
export const lastMessage = (o: ObservedTopics, topic: string): Message | undefined => o.topics.get(topic)?.last

/** Renders what was observed as a topic tree within `budgetChars`. */
export function observedTree(o: ObservedTopics, budgetChars: number, depth?: number): TopicTreeResult {
  const index = initialTopicIndex({ maxTopics: Math.min(100_000, Math.max(1, o.maxTopics)) })
  for (const e of o.topics.values()) {
    indexStep(index, e.last)
    const stats = index.topics.get(e.last.topic)
    if (stats !== undefined) {
      stats.messages = e.live
      stats.retained = e.retained
    }
  }
  index.truncated = o.dropped > 0
  return renderTree(index, { budgetChars, ...(depth !== undefined ? { depth } : {}) })
}
