/**
 * Traffic figures as a pure reducer: per topic and overall, message and byte rates, payload sizes, gaps
 * between messages, jitter, bursts, duplicate payloads and silent topics, in bounded memory.
 *
 *   message ─┬─► overall      counts · sizes · gaps · per-second counts (bursts)
 *            └─► topic        the same plus duplicates, for the first `maxTopics` topics; later topics are
 *                             summed into one "other" entry (counts, bytes, sizes; no gaps or duplicates)
 *
 * Quantiles come from a log-bucket histogram (`LogHistogram`, DDSketch-like): bucket i holds the values in
 * (γ^(i−1), γ^i] with γ = (1+α)/(1−α), α = 1%, and answers with the bucket's centre, so every quantile is within
 * 1% of a value of the right rank (min and max are exact; 0 has its own bucket). A histogram keeps at most 512
 * buckets (a 28,000× range of values); beyond that the lowest buckets are merged into one, so only values more
 * than 28,000× below the largest lose their accuracy (they read as that floor). A topic costs a few KB at most.
 *
 * Definitions (times in ms; the window is `startedAt`..`now`):
 *   - rates are over the whole window; retained replays are not traffic (counted apart, they mark a topic seen)
 *   - jitter_ms = p95 − p50 of the gaps: how much later than usual the late 5% arrive
 *   - a burst is a window second (counted from `startedAt`) whose message count exceeds 3 × the median
 *     per-second count over every second of the window, empty ones included, with a floor of 1 (so a topic that
 *     sends now and then bursts at 4 messages in one second); the largest few are listed
 *   - a duplicate is a payload byte-equal to the previous one on its topic (the retained one included)
 *   - a topic is silent when, seen before (retained or earlier live), it has been quiet for > 3 × its period
 *     (median gap, once it has one) or, without a period, for the last third of the window
 *
 * No clock here: messages carry `receivedAt`, the view takes `now`. State is mutated in place, one per window.
 */
import { createHash } from 'node:crypto'
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// log histogram
// -------------------------------------------------------------------------------------

/** Relative accuracy of histogram quantiles. */
export const HISTOGRAM_ALPHA = 0.01
const GAMMA = (1 + HISTOGRAM_ALPHA) / (1 - HISTOGRAM_ALPHA)
const LN_GAMMA = Math.log(GAMMA)
/** Most buckets one histogram holds. */
export const MAX_BUCKETS = 512
/** Values at or below this count as zero. */
const ZERO = 1e-9

/** A bounded quantile sketch of non-negative values; create with `emptyHistogram`, mutate with `record`. */
export interface LogHistogram {
  /** Bucket counts; counts[k] is bucket `lo + k`. */
  counts: Uint32Array
  lo: number
  /** Highest bucket index in use (−Infinity when none). */
  hi: number
  zeros: number
  total: number
  min: number
  max: number
}

export const emptyHistogram = (): LogHistogram => ({ counts: new Uint32Array(0), lo: 0, hi: -Infinity, zeros: 0, total: 0, min: Infinity, max: -Infinity })

const bucketOf = (v: number): number => Math.ceil(Math.log(v) / LN_GAMMA)
/** The centre of bucket i: within α of every value in it. */
const valueOf = (i: number): number => (2 * Math.pow(GAMMA, i)) / (GAMMA + 1)

/** Adds `n` (default 1) copies of `v` (negative values count as 0). */
export function record(h: LogHistogram, v: number, n = 1): void {
  const x = v > 0 && Number.isFinite(v) ? v : 0
  h.total += n
  if (x < h.min) h.min = x
  if (x > h.max) h.max = x
  if (x <= ZERO) {
    h.zeros += n
    return
  }
  let i = bucketOf(x)
  if (h.counts.length === 0) {
    h.counts = new Uint32Array(8)
    h.lo = i
    h.hi = i
  } else if (i < h.lo) {
    // below the kept range: grow down while the range allows, else merge into the lowest kept bucket
    const span = h.hi - i + 1
    if (span <= MAX_BUCKETS) regrow(h, i, h.hi)
    else i = h.lo
  } else if (i > h.hi) {
    if (i - h.lo + 1 > h.counts.length) {
      const span = i - h.lo + 1
      if (span <= MAX_BUCKETS) regrow(h, h.lo, i)
      else collapseTo(h, i - MAX_BUCKETS + 1, i)
    }
    h.hi = i
  }
  h.counts[i - h.lo]! += n
}

/** Reallocates to cover [lo, hi] (span ≤ MAX_BUCKETS), doubling capacity to keep growth amortised. */
function regrow(h: LogHistogram, lo: number, hi: number): void {
  const span = hi - lo + 1
  if (lo === h.lo && span <= h.counts.length) return
  const capacity = Math.min(MAX_BUCKETS, Math.max(span, h.counts.length * 2))
  const next = new Uint32Array(capacity)
  next.set(h.counts.subarray(0, h.hi - h.lo + 1), h.lo - lo)
  h.counts = next
  h.lo = lo
  h.hi = Math.max(h.hi, hi)
}

/** Moves the range up to [lo, hi], merging every bucket below `lo` into bucket `lo`. */
function collapseTo(h: LogHistogram, lo: number, hi: number): void {
  const next = new Uint32Array(MAX_BUCKETS)
  let merged = 0
  for (let k = 0; k <= h.hi - h.lo; k++) {
    const i = h.lo + k
    const c = h.counts[k]!
    if (i <= lo) merged += c
    else if (i <= hi) next[i - lo] = c
  }
  next[0]! += merged
  h.counts = next
  h.lo = lo
  h.hi = Math.max(lo, Math.min(h.hi, hi))
}

/** The value of 1-based rank `k` (1..total); NaN when empty. Clamped to the exact min and max. */
export function valueAtRank(h: LogHistogram, k: number): number {
  if (h.total === 0) return NaN
  const rank = Math.min(h.total, Math.max(1, Math.ceil(k)))
  if (rank <= h.zeros) return 0
  if (rank === h.total) return h.max
  let seen = h.zeros
  for (let idx = 0; idx <= h.hi - h.lo; idx++) {
    seen += h.counts[idx]!
    if (seen >= rank) return Math.min(h.max, Math.max(h.min, valueOf(h.lo + idx)))
  }
  return h.max
}

/** The q-quantile (0..1, nearest rank: the value at rank ⌈q·n⌉); NaN when empty. */
export const quantile = (h: LogHistogram, q: number): number => valueAtRank(h, q * h.total)

/** How many recorded values exceed `threshold` (exact to the bucket holding it: its values count as above when its centre is). */
export function countAbove(h: LogHistogram, threshold: number): number {
  if (h.total === 0) return 0
  let n = threshold < 0 ? h.zeros : 0
  for (let idx = 0; idx <= h.hi - h.lo; idx++) if (valueOf(h.lo + idx) > threshold) n += h.counts[idx]!
  return n
}

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Limits and the window start. `maxTopics` topics get their own figures (default 1000). */
export interface TrafficOptions {
  /** When the window opened, ms since the epoch: seconds for bursts count from here. */
  readonly startedAt: number
  readonly maxTopics?: number
  /** Largest seconds kept per topic for the burst list (default 5; overall keeps 4 × this). */
  readonly keepBursts?: number
}

interface Second {
  readonly second: number
  readonly count: number
}

/** The figures of one topic, of everything, or of the untracked rest; mutated in place. */
interface Figures {
  messages: number
  bytes: number
  retained: number
  firstAt: number | undefined
  lastAt: number | undefined
  /** Last message, live or retained. */
  lastSeen: number | undefined
  readonly sizes: LogHistogram
  readonly gaps: LogHistogram
  /** Counts of the seconds that had messages. */
  readonly perSecond: LogHistogram
  second: number
  secondCount: number
  /** The largest closed seconds, at most `keep`. */
  readonly top: Second[]
  readonly keep: number
  duplicates: number
  /** The previous payload: a copy up to DUP_COPY_BYTES, else its length and SHA-1. */
  lastPayload: Buffer | undefined
  lastLength: number
  lastDigest: string | undefined
}

/** The reducer's state. */
export interface TrafficState {
  readonly startedAt: number
  readonly maxTopics: number
  readonly keepBursts: number
  readonly topics: Map<string, Figures>
  readonly overall: Figures
  /** Topics beyond `maxTopics`, summed. */
  readonly other: Figures
}

/** Figures as the tools show them. */
export interface TrafficFigures {
  readonly messages: number
  readonly retained: number
  readonly messages_per_second: number
  readonly bytes_per_second: number
  readonly bytes: number
  readonly size_bytes: { min: number; p50: number; p95: number; max: number } | null
  readonly inter_arrival_ms: { p50: number; p95: number } | null
  readonly jitter_ms: number | null
  /** Burst seconds, largest first (at most the kept few); `at` is the second's start in ms. */
  readonly bursts: ReadonlyArray<{ at: number; messages: number }>
  /** How many seconds were bursts (the list may show fewer). */
  readonly burst_seconds: number
  readonly duplicates: number
  readonly first_at: number | null
  readonly last_at: number | null
}

export interface TopicFigures extends TrafficFigures {
  readonly topic: string
}

/** A topic seen before and quiet now. */
export interface SilentTopic {
  readonly topic: string
  readonly last_seen: number
  readonly silent_ms: number
  readonly period_ms: number | null
  /** `overdue`: quiet > 3 × its period; `quiet`: no period, nothing in the last third; `retained_only`: only its retained value was seen. */
  readonly reason: 'overdue' | 'quiet' | 'retained_only'
}

export interface TrafficView {
  readonly window_ms: number
  readonly overall: TrafficFigures
  /** Every tracked topic, highest message rate first (then by name). */
  readonly per_topic: readonly TopicFigures[]
  /** Topics beyond `maxTopics`, summed; null when there were none. */
  readonly other: TrafficFigures | null
  /** Overdue first, then quiet, then retained-only; longest silent first within each. */
  readonly silent_topics: readonly SilentTopic[]
}

export const DEFAULT_MAX_TOPICS = 1000
const DEFAULT_KEEP_BURSTS = 5
const BURST_FACTOR = 3
const SILENT_PERIODS = 3
/** Payloads up to this size are kept as a copy for duplicate checks; longer ones as a SHA-1 digest. */
const DUP_COPY_BYTES = 1024

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const emptyFigures = (keep: number): Figures => ({
  messages: 0, bytes: 0, retained: 0, firstAt: undefined, lastAt: undefined, lastSeen: undefined,
  sizes: emptyHistogram(), gaps: emptyHistogram(), perSecond: emptyHistogram(), second: -1, secondCount: 0,
  top: [], keep, duplicates: 0, lastPayload: undefined, lastLength: -1, lastDigest: undefined,
})

/** An empty state for a window that opened at `startedAt`; throws RangeError on bad limits. */
export function initialTraffic(opts: TrafficOptions): TrafficState {
  const maxTopics = opts.maxTopics ?? DEFAULT_MAX_TOPICS
  const keepBursts = opts.keepBursts ?? DEFAULT_KEEP_BURSTS
  for (const [name, v] of [['maxTopics', maxTopics], ['keepBursts', keepBursts]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`)
  }
  if (!Number.isFinite(opts.startedAt)) throw new RangeError(`startedAt must be a finite time, got ${opts.startedAt}`)
  return {
    startedAt: opts.startedAt, maxTopics, keepBursts, topics: new Map(),
    overall: emptyFigures(keepBursts * 4), other: emptyFigures(keepBursts),
  }
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** Folds one message into the state (in place) and returns it. */
export function trafficStep(state: TrafficState, m: Message): TrafficState {
  let f = state.topics.get(m.topic)
  if (f === undefined && state.topics.size < state.maxTopics) {
    f = emptyFigures(state.keepBursts)
    state.topics.set(m.topic, f)
  }
  const second = Math.max(0, Math.floor((m.receivedAt - state.startedAt) / 1000))
  if (f !== undefined) {
    checkDuplicate(f, m.payload)
    add(f, m, second, true)
  } else {
    add(state.other, m, second, false)
  }
  add(state.overall, m, second, true)
  return state
}

function add(f: Figures, m: Message, second: number, withGaps: boolean): void {
  if (f.lastSeen === undefined || m.receivedAt > f.lastSeen) f.lastSeen = m.receivedAt
  if (m.retain) {
    f.retained++
    return
  }
  if (withGaps && f.lastAt !== undefined) record(f.gaps, m.receivedAt - f.lastAt)
  f.messages++
  f.bytes += m.payload.length
  f.firstAt ??= m.receivedAt
  if (f.lastAt === undefined || m.receivedAt > f.lastAt) f.lastAt = m.receivedAt
  record(f.sizes, m.payload.length)
  if (second > f.second) {
    closeSecond(f)
    f.second = second
    f.secondCount = 0
  }
  // a late timestamp (second < f.second) is counted in the open second
  f.secondCount++
}

function closeSecond(f: Figures): void {
  if (f.secondCount === 0) return
  record(f.perSecond, f.secondCount)
  keepTop(f.top, f.keep, { second: f.second, count: f.secondCount })
}

/** Keeps the `keep` largest seconds (earlier second wins a tie). */
function keepTop(top: Second[], keep: number, s: Second): void {
  if (top.length < keep) {
    top.push(s)
    return
  }
  let min = 0
  for (let i = 1; i < top.length; i++) if (top[i]!.count < top[min]!.count) min = i
  if (s.count > top[min]!.count) top[min] = s
}

function checkDuplicate(f: Figures, payload: Buffer): void {
  const n = payload.length
  if (n <= DUP_COPY_BYTES) {
    if (f.lastLength === n && f.lastPayload !== undefined && f.lastPayload.compare(payload, 0, n, 0, n) === 0) f.duplicates++
    // one buffer per topic, reused: a copy, so the state never pins mqtt.js's packet buffers
    if (f.lastPayload === undefined || f.lastPayload.length < n) f.lastPayload = Buffer.allocUnsafe(Math.max(n, 64))
    payload.copy(f.lastPayload, 0, 0, n)
    f.lastDigest = undefined
  } else {
    const digest = createHash('sha1').update(payload).digest('base64')
    if (f.lastLength === n && f.lastDigest === digest) f.duplicates++
    f.lastDigest = digest
  }
  f.lastLength = n
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** The figures at `now` (the window's end): every tracked topic, the rest, and the silent topics. */
export function trafficView(state: TrafficState, now: number): TrafficView {
  const windowMs = Math.max(0, now - state.startedAt)
  const perTopic: TopicFigures[] = []
  const silent: SilentTopic[] = []
  let duplicates = 0
  for (const [topic, f] of state.topics) {
    duplicates += f.duplicates
    perTopic.push({ topic, ...figuresOf(f, windowMs, state.startedAt) })
    const s = silenceOf(topic, f, now, windowMs)
    if (s !== undefined) silent.push(s)
  }
  perTopic.sort((a, b) => b.messages - a.messages || (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
  const rank = { overdue: 0, quiet: 1, retained_only: 2 } as const
  silent.sort((a, b) => rank[a.reason] - rank[b.reason] || b.silent_ms - a.silent_ms || (a.topic < b.topic ? -1 : 1))
  const other = state.other.messages + state.other.retained > 0 ? { ...figuresOf(state.other, windowMs, state.startedAt), duplicates: 0 } : null
  return {
    window_ms: windowMs,
    overall: { ...figuresOf(state.overall, windowMs, state.startedAt), duplicates },
    per_topic: perTopic,
    other,
    silent_topics: silent,
  }
}

function figuresOf(f: Figures, windowMs: number, startedAt: number): TrafficFigures {
  const seconds = windowMs / 1000
  const bursts = burstsOf(f, windowMs)
  const hasGaps = f.gaps.total > 0
  const p50 = quantile(f.gaps, 0.5)
  const p95 = quantile(f.gaps, 0.95)
  return {
    messages: f.messages,
    retained: f.retained,
    messages_per_second: seconds > 0 ? round2(f.messages / seconds) : 0,
    bytes_per_second: seconds > 0 ? round2(f.bytes / seconds) : 0,
    bytes: f.bytes,
    size_bytes:
      f.messages === 0
        ? null
        : { min: f.sizes.min, p50: Math.round(quantile(f.sizes, 0.5)), p95: Math.round(quantile(f.sizes, 0.95)), max: f.sizes.max },
    inter_arrival_ms: hasGaps ? { p50: round1(p50), p95: round1(p95) } : null,
    jitter_ms: hasGaps ? round1(Math.max(0, p95 - p50)) : null,
    bursts: bursts.list.map((s) => ({ at: startedAt + s.second * 1000, messages: s.count })),
    burst_seconds: bursts.count,
    duplicates: f.duplicates,
    first_at: f.firstAt ?? null,
    last_at: f.lastAt ?? null,
  }
}

/** The burst threshold and the burst seconds, counting the open second as closed. */
function burstsOf(f: Figures, windowMs: number): { count: number; list: Second[] } {
  if (f.messages === 0) return { count: 0, list: [] }
  const open: Second | undefined = f.secondCount > 0 ? { second: f.second, count: f.secondCount } : undefined
  const active = f.perSecond.total + (open === undefined ? 0 : 1)
  const seconds = Math.max(active, Math.ceil(windowMs / 1000), 1)
  const empty = seconds - active
  // median over every second of the window: empty seconds first, then the recorded counts
  const medianRank = Math.ceil(seconds / 2)
  let median: number
  if (medianRank <= empty) median = 0
  else {
    const k = medianRank - empty
    // the open second is not in the histogram: place it by hand
    // counts are integers and bucket centres within 1% of them: rounding gives the exact median below ~50
    median = Math.round(open === undefined ? valueAtRank(f.perSecond, k) : valueAtRankWith(f.perSecond, k, open.count))
  }
  const threshold = BURST_FACTOR * Math.max(1, median)
  // integer counts: "> threshold" is "> ⌊threshold⌋ + 0.5", which bucket centres answer exactly for small counts
  const count = countAbove(f.perSecond, Math.floor(threshold) + 0.5) + (open !== undefined && open.count > threshold ? 1 : 0)
  const candidates = open === undefined ? [...f.top] : [...f.top, open]
  const list = candidates
    .filter((s) => s.count > threshold)
    .sort((a, b) => b.count - a.count || a.second - b.second)
    .slice(0, f.keep)
  return { count: Math.max(count, list.length), list }
}

/** The value of rank k among the histogram's values plus one `extra`: min(v_k, max(extra, v_(k−1))). */
function valueAtRankWith(h: LogHistogram, k: number, extra: number): number {
  const vk = k > h.total ? Infinity : valueAtRank(h, k)
  const before = k - 1 < 1 ? -Infinity : valueAtRank(h, k - 1)
  return Math.min(vk, Math.max(extra, before))
}

function silenceOf(topic: string, f: Figures, now: number, windowMs: number): SilentTopic | undefined {
  if (f.lastSeen === undefined) return undefined
  const silentMs = Math.max(0, now - f.lastSeen)
  if (f.messages === 0) {
    return silentMs > windowMs / 3 ? { topic, last_seen: f.lastSeen, silent_ms: silentMs, period_ms: null, reason: 'retained_only' } : undefined
  }
  if (f.gaps.total > 0) {
    const period = quantile(f.gaps, 0.5)
    if (period > 0 && silentMs > SILENT_PERIODS * period) {
      return { topic, last_seen: f.lastSeen, silent_ms: silentMs, period_ms: round1(period), reason: 'overdue' }
    }
    return undefined
  }
  return silentMs > windowMs / 3 ? { topic, last_seen: f.lastSeen, silent_ms: silentMs, period_ms: null, reason: 'quiet' } : undefined
}

/** Sizes of what the state holds, for tests that prove it stays bounded. */
export function trafficStateSize(state: TrafficState): { topics: number; buckets: number; bytes: number } {
  let buckets = 0
  let bytes = 0
  const count = (f: Figures): void => {
    for (const h of [f.sizes, f.gaps, f.perSecond]) buckets += h.counts.length
    bytes += (f.lastPayload?.length ?? 0) + (f.lastDigest?.length ?? 0) + f.top.length * 16
  }
  for (const f of state.topics.values()) count(f)
  count(state.overall)
  count(state.other)
  bytes += buckets * 4
  return { topics: state.topics.size, buckets, bytes }
}

const round1 = (x: number): number => Math.round(x * 10) / 10
const round2 = (x: number): number => Math.round(x * 100) / 100
