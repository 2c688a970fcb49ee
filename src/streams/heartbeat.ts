/**
 * Heartbeat detection as a pure reducer: per topic, the gaps between live messages in a small ring (the last
 * 64 by default) plus running totals, so a topic costs about 0.6 KB however long the window. The view turns
 * the ring into a period (median gap), a jitter (median absolute deviation of the gaps from that median) and
 * missed beats (long gaps, plus the silence since the last message at an explicit `now`).
 *
 *   live messages:  a----b----c---------d----e          (retained replays are not beats)
 *   gaps:                5    5    10        5          period 5, jitter 0
 *   missed:                        ⌊10/5⌋−1 = 1          then ⌊silence/5⌋ once silence > 1.5 × 5
 *
 * No clock here: messages carry `receivedAt`, the view takes `now`. The state is mutated in place; create one
 * per window (`reduce(heartbeatStep, initialHeartbeat())`).
 */
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Limits: `maxTopics` topics tracked (default 1000; later ones are counted, not tracked), `ringSize` gaps kept per topic (default 64). */
export interface HeartbeatOptions {
  readonly maxTopics?: number
  readonly ringSize?: number
}

/** One topic's beats; mutated in place by `heartbeatStep`. */
interface TopicBeats {
  /** Live messages seen. */
  messages: number
  firstAt: number
  lastAt: number
  /** The last `ringSize` gaps in ms, oldest at `head` once full; allocated at the first gap. */
  gaps: Float64Array | undefined
  head: number
  filled: number
  /** Running totals over every gap, not only the ring's. */
  gapCount: number
  gapSum: number
  minGap: number
  maxGap: number
  /** Missed beats in gaps that left the ring, judged against the period when they left it. */
  missedEvicted: number
}

/** The reducer's state: tracked topics by name, and the messages on topics beyond `maxTopics`. */
export interface HeartbeatState {
  readonly maxTopics: number
  readonly ringSize: number
  readonly topics: Map<string, TopicBeats>
  /** Live messages on topics that were not tracked because `maxTopics` topics already were. */
  untracked: number
}

/** What the view says about one topic; times in ms. */
export interface Heartbeat {
  readonly topic: string
  /** Live messages seen. */
  readonly messages: number
  /** Median of the gaps in the ring; null before the second message. */
  readonly period_ms: number | null
  /** Median absolute deviation of the ring's gaps from `period_ms` (robust: a missed beat barely moves it). */
  readonly jitter_ms: number | null
  /** Mean of every gap seen (missed beats included). */
  readonly mean_gap_ms: number | null
  /** Gaps > 1.5 × period count ⌊gap/period⌋ − 1; a silence > 1.5 × period at `now` adds ⌊silence/period⌋. */
  readonly missed_beats: number
  /**
   * The topic beats: ≥ 3 gaps, a positive period, jitter ≤ 25% of it, and ≥ 75% of the ring's gaps within
   * 0.5..1.5 periods (so a topic alternating between two gaps, such as an availability topic that flaps, is not one).
   */
  readonly periodic: boolean
  readonly last_at: number
  /** `now − last_at`. */
  readonly silent_ms: number
}

export const DEFAULT_MAX_TOPICS = 1000
export const DEFAULT_RING_SIZE = 64
/** A gap longer than this many periods holds missed beats. */
export const LATE_FACTOR = 1.5
const MIN_GAPS_FOR_PERIODIC = 3
const MAX_RELATIVE_JITTER = 0.25
const MIN_REGULAR_SHARE = 0.75

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** An empty state; throws RangeError on limits that are not positive integers. */
export function initialHeartbeat(opts: HeartbeatOptions = {}): HeartbeatState {
  const maxTopics = opts.maxTopics ?? DEFAULT_MAX_TOPICS
  const ringSize = opts.ringSize ?? DEFAULT_RING_SIZE
  for (const [name, v] of [['maxTopics', maxTopics], ['ringSize', ringSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`)
  }
  return { maxTopics, ringSize, topics: new Map(), untracked: 0 }
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** Folds one message into the state (in place) and returns it; retained replays are ignored (they are stored state, not beats). */
export function heartbeatStep(state: HeartbeatState, m: Message): HeartbeatState {
  if (m.retain) return state
  let b = state.topics.get(m.topic)
  if (b === undefined) {
    if (state.topics.size >= state.maxTopics) {
      state.untracked++
      return state
    }
    b = {
      messages: 0, firstAt: m.receivedAt, lastAt: m.receivedAt, gaps: undefined, head: 0, filled: 0,
      gapCount: 0, gapSum: 0, minGap: Infinity, maxGap: 0, missedEvicted: 0,
    }
    state.topics.set(m.topic, b)
  }
  if (b.messages > 0) {
    // out-of-order timestamps (a clock step) count as a zero gap rather than a negative one
    const gap = Math.max(0, m.receivedAt - b.lastAt)
    pushGap(b, gap, state.ringSize)
  }
  b.messages++
  if (m.receivedAt > b.lastAt || b.messages === 1) b.lastAt = m.receivedAt
  return state
}

function pushGap(b: TopicBeats, gap: number, ringSize: number): void {
  b.gaps ??= new Float64Array(ringSize)
  b.gapCount++
  b.gapSum += gap
  if (gap < b.minGap) b.minGap = gap
  if (gap > b.maxGap) b.maxGap = gap
  if (b.filled < ringSize) {
    b.gaps[(b.head + b.filled) % ringSize] = gap
    b.filled++
    return
  }
  const evicted = b.gaps[b.head]!
  b.gaps[b.head] = gap
  b.head = (b.head + 1) % ringSize
  // the ring's minimum bounds its median from below: most evictions are settled without computing the median
  if (evicted > LATE_FACTOR * ringMin(b)) b.missedEvicted += missedInGap(evicted, medianOf(ringValues(b)))
}

function ringMin(b: TopicBeats): number {
  let min = Infinity
  for (let i = 0; i < b.filled; i++) min = Math.min(min, b.gaps![i]!)
  return min
}

function ringValues(b: TopicBeats): number[] {
  const out = new Array<number>(b.filled)
  for (let i = 0; i < b.filled; i++) out[i] = b.gaps![(b.head + i) % b.gaps!.length]!
  return out
}

// -------------------------------------------------------------------------------------
// statistics
// -------------------------------------------------------------------------------------

/** Median of a non-empty list (mean of the two middle values when even); NaN when empty. Does not modify `xs`. */
export function medianOf(xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const sorted = Float64Array.from(xs).sort()
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Median absolute deviation of `xs` from `center`. */
export function madOf(xs: readonly number[], center: number): number {
  return medianOf(xs.map((x) => Math.abs(x - center)))
}

/** Beats missing inside one gap that ended with a message: ⌊gap/period⌋ − 1 when gap > 1.5 × period, else 0. */
export function missedInGap(gap: number, period: number): number {
  if (!(period > 0) || gap <= LATE_FACTOR * period) return 0
  return Math.max(0, Math.floor(gap / period) - 1)
}

/** Beats due and absent in a silence that has not ended: ⌊silence/period⌋ when silence > 1.5 × period, else 0. */
export function missedInSilence(silence: number, period: number): number {
  if (!(period > 0) || silence <= LATE_FACTOR * period) return 0
  return Math.floor(silence / period)
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** The heartbeat of one topic at `now`, or undefined when it was never seen live (or not tracked). */
export function heartbeatOf(state: HeartbeatState, topic: string, now: number): Heartbeat | undefined {
  const b = state.topics.get(topic)
  if (b === undefined) return undefined
  const silent = Math.max(0, now - b.lastAt)
  if (b.filled === 0) {
    return { topic, messages: b.messages, period_ms: null, jitter_ms: null, mean_gap_ms: null, missed_beats: 0, periodic: false, last_at: b.lastAt, silent_ms: silent }
  }
  const gaps = ringValues(b)
  const period = medianOf(gaps)
  const jitter = madOf(gaps, period)
  let missed = b.missedEvicted + missedInSilence(silent, period)
  let regular = 0
  for (const g of gaps) {
    missed += missedInGap(g, period)
    if (g >= 0.5 * period && g <= LATE_FACTOR * period) regular++
  }
  return {
    topic,
    messages: b.messages,
    period_ms: round1(period),
    jitter_ms: round1(jitter),
    mean_gap_ms: round1(b.gapSum / b.gapCount),
    missed_beats: missed,
    periodic:
      b.gapCount >= MIN_GAPS_FOR_PERIODIC && period > 0 && jitter <= MAX_RELATIVE_JITTER * period && regular >= MIN_REGULAR_SHARE * gaps.length,
    last_at: b.lastAt,
    silent_ms: silent,
  }
}

/** Every tracked topic's heartbeat at `now`, in topic order. */
export function heartbeatsOf(state: HeartbeatState, now: number): Heartbeat[] {
  return [...state.topics.keys()].sort().map((topic) => heartbeatOf(state, topic, now)!)
}

/** Sizes of what the state holds, for tests that prove it stays bounded. */
export function heartbeatStateSize(state: HeartbeatState): { topics: number; gapSlots: number } {
  let gapSlots = 0
  for (const b of state.topics.values()) gapSlots += b.gaps?.length ?? 0
  return { topics: state.topics.size, gapSlots }
}

const round1 = (x: number): number => Math.round(x * 10) / 10
