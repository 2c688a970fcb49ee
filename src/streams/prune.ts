/**
 * Pruning: turns a collection window into at most T = `targetCount` messages for the model, in one pass,
 * with state bounded by O(T + maxTopics) however many messages arrive (TOOLS.md, mqtt_subscribe_and_collect).
 *
 *   message ─┬─ looks like an error? ──yes──► error store   ≤ E = max(1, ⌊T/2⌋): the first ⌈E/2⌉ errors,
 *            │                                              then the latest, one place per repeating error
 *            │                        no ───► time strata   2T buckets whose width doubles as the window
 *            │                                              grows; each keeps its most novel message
 *            ├─► first/last slots                           for ≤ min(T, maxTopics) topics
 *            └─► topic stats                                count, value ranges; ≤ maxTopics, then "other"
 *
 *   pruneResult:  errors ─► last + first of each topic ─► one sample per stratum group ─► arrival order
 *                          (by count, then first seen)     (until T)
 *
 * The state is mutated in place (a fresh copy per message would cost more than the rest of the step), so
 * create it per subscription: `defer(() => source.pipe(reduce(pruneStep, initialPrune(opts))))`.
 * Nothing here reads a clock or a random source: the same messages always give the same result.
 */
import { isUtf8 } from 'node:buffer'
import { mayBeJson } from '../mqtt/payload.js'
import { keepHead } from './keep-head.js'
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** How much a window is pruned to. */
export interface PruneOptions {
  /** How many messages the result may show, an integer 1..500. */
  readonly targetCount: number
  /** How many topics get their own counts and value ranges (default 1000); later topics are summed as "other topics". */
  readonly maxTopics?: number
  /** Longest payload a candidate keeps whole, in bytes; a longer one keeps its head (`Message.cut`). Default: whole. */
  readonly keepBytes?: number
}

/** The reducer's state: opaque; create it with `initialPrune`, advance it with `pruneStep`, read it with `pruneResult`. */
export interface PruneState {
  readonly _tag: 'PruneState'
}

/** What pruning kept, and what it says about what it dropped. */
export interface PruneResult {
  /** The kept messages in arrival order; at most `targetCount` of them. */
  readonly kept: readonly Message[]
  /** Messages the reducer was given. */
  readonly seen: number
  /** `kept.length`. */
  readonly keptCount: number
  /** `seen - keptCount`. */
  readonly dropped: number
  /** How many kept messages each rule contributed (a message kept by several rules counts for the first). */
  readonly byRule: { readonly error: number; readonly first_last: number; readonly sample: number }
  /** The rule that kept each message of `kept` (same order), for callers that show fewer. */
  readonly rules: readonly PruneRule[]
  /** One line per topic that lost messages, most dropped first, e.g. "sensors/temp: 480 of 500 dropped, values 20.1–23.4". */
  readonly summary: readonly string[]
}

/** Why a message was kept: it looks like an error, it is a topic's first or last, or it samples the rest. */
export type PruneRule = 'error' | 'first_last' | 'sample'

/** Sizes of what the state holds, for tests that prove it stays bounded. */
export interface PruneStateSize {
  /** Message references held (error store, first/last slots, strata); O(targetCount). */
  readonly candidates: number
  /** Topics with their own statistics; at most `maxTopics`. */
  readonly topics: number
  /** Any other bookkeeping entries (error signatures, the slot queue); O(targetCount). */
  readonly index: number
}

/** The largest `targetCount` (TOOLS.md: target_count ≤ max_messages ≤ 500). */
export const MAX_TARGET = 500
/** Topics tracked individually when `maxTopics` is not given (a few hundred bytes of statistics each). */
export const DEFAULT_MAX_TOPICS = 1000
/** Payloads larger than this are classified by their first byte only: never decoded, scanned or parsed. */
export const SCAN_LIMIT_BYTES = 4096

const MAX_SHAPES_PER_TOPIC = 8
const MAX_FIELDS_PER_TOPIC = 3
/**
 * Numeric fields a payload's analysis records. More than a topic tracks, so a topic whose first objects
 * had other keys still finds its tracked fields among a later object's first few.
 */
const MAX_SCANNED_FIELDS = 8
/** Sub-millisecond steps for messages sharing a timestamp, so a burst within one ms still spreads over strata. */
const SUB_STEPS = 1024
const NO_MESSAGE = -1

interface Held {
  readonly seq: number
  readonly m: Message
}

interface HeldError extends Held {
  readonly sig: string
}

interface Range {
  min: number
  max: number
}

interface FieldRange extends Range {
  readonly name: string
  /** Hash of the key's bytes, to match it without decoding it. */
  readonly key: number
}

interface TopicStats {
  readonly name: string
  /** Rank of first appearance. */
  readonly order: number
  readonly isErrorTopic: boolean
  count: number
  readonly shapes: number[]
  lastValue: number
  range: Range | undefined
  readonly fields: FieldRange[]
  holder: boolean
  firstSeq: number
  firstMsg: Message | undefined
  lastSeq: number
  lastMsg: Message | undefined
}

interface State extends PruneState {
  readonly target: number
  readonly maxTopics: number
  readonly keepBytes: number
  seen: number
  readonly topics: Map<string, TopicStats>
  otherCount: number
  otherRange: Range | undefined
  // error store
  readonly headCap: number
  readonly tailCap: number
  readonly errorHead: Held[]
  /** seq → error, oldest first (Map keeps insertion order). */
  readonly errorTail: Map<number, HeldError>
  /** signature → seq of its latest copy in errorTail. */
  readonly errorTailBySig: Map<string, number>
  // first/last slots
  readonly slotCap: number
  holders: number
  /** Holders admitted with one message, oldest first; entries that grew past one are skipped lazily. */
  readonly oneOffs: TopicStats[]
  oneOffHead: number
  // time strata (parallel arrays: no allocation per message)
  readonly bucketSeq: Float64Array
  readonly bucketMsg: (Message | undefined)[]
  readonly bucketScore: Float64Array
  readonly bucketTie: Uint32Array
  x0: number
  width: number
  lastAt: number
  sameAt: number
  /** Every message while at most `target` were seen (then undefined): a window that fits is shown whole. */
  all: Array<{ readonly seq: number; readonly m: Message; readonly error: boolean }> | undefined
}

// -------------------------------------------------------------------------------------
// error detection
// -------------------------------------------------------------------------------------

// Whole words, not substrings ("default" is no fault, "failover" no failure); `_`, digits and punctuation
// count as separators so `temp_error` and `ERROR:` match. Non-unicode /i never folds a char ≥ 128 into ASCII.
const ERROR_WORDS =
  /(?<![a-z])(?:errors?|errored|err|fail(?:s|ed|ing|ures?)?|alarms?|faults?|faulted|critical|crit|offline|warn(?:s|ed|ings?)?|exceptions?|fatal|panic|emerg(?:ency)?)(?![a-z])/i
const NUMERIC_TEXT = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/
/** Values of an error-word key that mean "no error" (`{"error": "none"}`, `{"faults": 0}`). */
const CLEAR_VALUES = new Set(['', 'ok', 'none', 'no', 'false', '0', 'null', 'n/a'])
const MAX_JSON_VISITS = 256

function isClearValue(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0) return true
  if (typeof v === 'string') return CLEAR_VALUES.has(v.trim().toLowerCase())
  if (Array.isArray(v)) return v.length === 0
  if (typeof v === 'object') return Object.keys(v).length === 0
  return false
}

/**
 * Keys whose string values describe a condition. A string elsewhere is data, not a condition: Home Assistant
 * discovery configs carry `"payload_not_available": "offline"` and must not count as errors.
 */
const CONDITION_KEY = /^(?:level|severity|status|state|error|err|errors|fault|faults|alarm|alarms|warning|warnings|message|msg|event|result|reason|description|detail|details|text|log|exception)$/i

/** JSON is an error when an error word is a key with a value that is not "clear", or a condition key's string value. */
function jsonHasError(root: unknown): boolean {
  const stack: Array<[unknown, string]> = [[root, 'message']]
  for (let visits = 0; stack.length > 0 && visits < MAX_JSON_VISITS; visits++) {
    const [v, key] = stack.pop()!
    if (typeof v === 'string') {
      if (CONDITION_KEY.test(key) && ERROR_WORDS.test(v)) return true
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push([x, key])
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (ERROR_WORDS.test(k) && !isClearValue(x)) return true
        if (typeof x === 'string' || (typeof x === 'object' && x !== null)) stack.push([x, k])
      }
    }
  }
  return false
}

// -------------------------------------------------------------------------------------
// payload sniffing
// -------------------------------------------------------------------------------------

// Shape codes for everything but JSON objects, whose shape is a hash of their key set.
const SHAPE_EMPTY = 1
const SHAPE_NUMBER = 2
const SHAPE_BOOLEAN = 3
const SHAPE_NULL = 4
const SHAPE_STRING = 5
const SHAPE_TEXT = 6
const SHAPE_BINARY = 7
const SHAPE_ARRAY = 8
const SHAPE_LARGE_JSON = 9
const SHAPE_LARGE = 10

/** A top-level numeric field of a JSON object: its key's hash, where the key's bytes are, and the value. */
interface NumericField {
  readonly key: number
  readonly keyStart: number
  readonly keyEnd: number
  readonly value: number
}

/** What pruning needs to know about a payload; the same for every window, so computed once per message. */
export interface Sniffed {
  /** Payload shape: a kind code, or for a JSON object a hash of its sorted key set. */
  readonly shape: number
  /** Hash of the content, to tell a repeated value from a new one. */
  readonly value: number
  /** The value of a numeric payload (JSON number or numeric text). */
  readonly num: number | undefined
  readonly error: boolean
  /** A JSON object's first top-level numeric fields (at most MAX_SCANNED_FIELDS), for the summary's ranges. */
  readonly fields: readonly NumericField[] | undefined
}

/** FNV-1a over the first 128 and last 64 bytes plus the length: enough to tell values apart, bounded for big payloads. */
function contentHash(buf: Buffer): number {
  const n = buf.length
  let h = (0x811c9dc5 ^ n) >>> 0
  const head = Math.min(n, 128)
  for (let i = 0; i < head; i++) h = Math.imul(h ^ buf[i]!, 0x01000193)
  for (let i = Math.max(head, n - 64); i < n; i++) h = Math.imul(h ^ buf[i]!, 0x01000193)
  return h >>> 0
}

/** murmur3's finaliser: a fixed, well-spread tie-break per arrival index (no Math.random, so results repeat). */
function mix32(x: number): number {
  let h = x >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39

function firstByte(buf: Buffer): number {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if (!isSpace(b)) return b
  }
  return -1
}

/** Reads the number after a top-level key (bytes keyStart..keyEnd) into `out`, when the value is one. */
function numericField(buf: Buffer, keyStart: number, keyEnd: number, key: number, out: NumericField[]): void {
  const n = buf.length
  let k = keyEnd + 1
  while (k < n && isSpace(buf[k]!)) k++
  if (k >= n || buf[k] !== 0x3a) return
  k++
  while (k < n && isSpace(buf[k]!)) k++
  if (k >= n || !(isDigit(buf[k]!) || buf[k] === 0x2d)) return
  let e = k + 1
  for (; e < n; e++) {
    const c = buf[e]!
    // digits . e E + -
    if (!(isDigit(c) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d)) break
  }
  const value = parseNumber(buf, k, e)
  if (Number.isFinite(value)) out.push({ key, keyStart, keyEnd, value })
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

/**
 * `Number()` of the bytes k..e, read without making a string for the common case (at most 15 digits, no
 * exponent): a string per field was the largest cost of a JSON payload's analysis. mantissa / 10^fraction is
 * correctly rounded there (both are exact doubles), so the result equals Number()'s; anything else takes Number().
 */
function parseNumber(buf: Buffer, k: number, e: number): number {
  let i = k
  const negative = buf[i] === 0x2d
  if (negative) i++
  let mantissa = 0
  let digits = 0
  let fraction = -1
  for (; i < e; i++) {
    const c = buf[i]!
    if (isDigit(c)) {
      mantissa = mantissa * 10 + (c - 0x30)
      digits++
      if (fraction >= 0) fraction++
    } else if (c === 0x2e && fraction < 0) fraction = 0
    else return Number(buf.toString('latin1', k, e))
  }
  if (digits === 0 || digits > 15 || fraction === 0) return Number(buf.toString('latin1', k, e))
  const v = fraction > 0 ? mantissa / POW10[fraction]! : mantissa
  return negative ? -v : v
}

/**
 * The shape of a JSON object from one pass over its bytes: an order-independent hash of its top-level keys,
 * so `{"a":1,"b":2}` and `{"b":3,"a":4}` share a shape. JSON.parse took 10 µs for a 1 KB object here, this
 * scan about 1 µs. Top-level numbers are collected into `fields` on the way (the first MAX_SCANNED_FIELDS).
 * Malformed JSON still gets some shape: shapes only steer the sample.
 */
function scanObject(buf: Buffer, fields: NumericField[]): number {
  const n = buf.length
  let sum = 0
  let keys = 0
  let depth = 0
  let expectKey = false
  for (let i = 0; i < n; i++) {
    const b = buf[i]!
    if (b === 0x22) {
      const isKey = depth === 1 && expectKey
      let h = 0x811c9dc5
      let j = i + 1
      for (; j < n; j++) {
        const c = buf[j]!
        if (c === 0x22) break
        if (c === 0x5c) j++ // an escaped quote does not end the string
        if (isKey) h = Math.imul(h ^ c, 0x01000193)
      }
      if (isKey) {
        expectKey = false
        sum = (sum + (h >>> 0)) | 0
        keys++
        // 30 bits: a small integer (Smi) is stored in the object itself, a larger number boxed behind a pointer
        if (fields.length < MAX_SCANNED_FIELDS) numericField(buf, i + 1, j, h & 0x3fffffff, fields)
      }
      i = j
    } else if (b === 0x7b || b === 0x5b) {
      depth++
      if (depth === 1) expectKey = b === 0x7b
    } else if (b === 0x7d || b === 0x5d) {
      if (--depth === 0) break
    } else if (b === 0x2c && depth === 1) {
      expectKey = true
    }
  }
  // bit 16 keeps object shapes apart from the small kind codes
  return (mix32(sum ^ Math.imul(keys, 0x9e3779b9)) | 0x10000) >>> 0
}

function tryParse(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}

function sniffed(shape: number, value: number, error: boolean, num?: number, fields?: NumericField[]): Sniffed {
  return { shape, value, num, error, fields: fields !== undefined && fields.length > 0 ? fields : undefined }
}

/** Classifies a payload: its shape, a content hash, a number when it is one, error words, numeric fields. */
function sniff(buf: Buffer): Sniffed {
  const value = contentHash(buf)
  if (buf.length === 0) return sniffed(SHAPE_EMPTY, value, false)
  if (buf.length > SCAN_LIMIT_BYTES) return sniffed(mayBeJson(buf) ? SHAPE_LARGE_JSON : SHAPE_LARGE, value, false)
  if (!isUtf8(buf)) return sniffed(SHAPE_BINARY, value, false)
  const text = buf.toString('utf8')
  const b = firstByte(buf)
  // numbers, true/false/null are checked by hand: a JSON.parse that throws costs ~5 µs (NOTES.md)
  if ((b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2b || b === 0x2e) {
    if (NUMERIC_TEXT.test(text)) return sniffed(SHAPE_NUMBER, value, false, Number(text))
  } else if (b === 0x74 || b === 0x66 || b === 0x6e) {
    const word = text.trim()
    if (word === 'true' || word === 'false') return sniffed(SHAPE_BOOLEAN, value, false)
    if (word === 'null') return sniffed(SHAPE_NULL, value, false)
  }
  const suspicious = ERROR_WORDS.test(text)
  if (b === 0x22) return sniffed(SHAPE_STRING, value, suspicious)
  if (b !== 0x7b && b !== 0x5b) return sniffed(SHAPE_TEXT, value, suspicious)
  const fields: NumericField[] = []
  const shape = b === 0x7b ? scanObject(buf, fields) : SHAPE_ARRAY
  if (!suspicious) return sniffed(shape, value, false, undefined, fields)
  // JSON with an error word somewhere: only now is it parsed, to tell `"error": null` from `"error": "timeout"`;
  // malformed JSON is judged like text
  const parsed = mayBeJson(buf) ? tryParse(text) : undefined
  return sniffed(shape, value, parsed === undefined || jsonHasError(parsed.value), undefined, fields)
}

// A session hands one Message object to every window, back to back: remembering the last analysis means
// 20 windows on overlapping filters analyse each message once, at the cost of holding one message.
let sniffedFor: Message | undefined
let lastSniffed: Sniffed | undefined

/** The analysis of a message's payload, computed once however many windows prune it. */
export function sniffMessage(m: Message): Sniffed {
  if (m !== sniffedFor || lastSniffed === undefined) {
    lastSniffed = sniff(m.payload)
    sniffedFor = m
  }
  return lastSniffed
}

/** Widens a topic's tracked field ranges with a payload's numeric fields; the first MAX_FIELDS_PER_TOPIC keys are tracked. */
function trackFields(t: TopicStats, payload: Buffer, found: readonly NumericField[]): void {
  // plain loops: a closure per field per delivery (Array.find) cost more than the rest of pruneStep
  const tracked = t.fields
  for (let i = 0; i < found.length; i++) {
    const f = found[i]!
    let j = 0
    while (j < tracked.length && tracked[j]!.key !== f.key) j++
    if (j < tracked.length) {
      const r = tracked[j]!
      if (f.value < r.min) r.min = f.value
      if (f.value > r.max) r.max = f.value
    } else if (tracked.length < MAX_FIELDS_PER_TOPIC) {
      tracked.push({ name: payload.toString('utf8', f.keyStart, f.keyEnd), key: f.key, min: f.value, max: f.value })
    }
  }
}

/** True when a message looks like an error or warning: an error word in its topic or payload (see ERROR_WORDS). */
export function looksLikeError(topic: string, payload: Buffer): boolean {
  return ERROR_WORDS.test(topic) || sniff(payload).error
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** A fresh, empty pruning state; throws RangeError for a target outside 1..500 (the tool codec checks first). */
export function initialPrune(opts: PruneOptions): PruneState {
  const target = opts.targetCount
  const maxTopics = opts.maxTopics ?? DEFAULT_MAX_TOPICS
  if (!Number.isInteger(target) || target < 1 || target > MAX_TARGET) throw new RangeError(`targetCount must be an integer 1..${MAX_TARGET}, got ${target}`)
  if (!Number.isInteger(maxTopics) || maxTopics < 0) throw new RangeError(`maxTopics must be a non-negative integer, got ${maxTopics}`)
  const errorCap = Math.max(1, Math.floor(target / 2))
  const headCap = Math.ceil(errorCap / 2)
  // 2T strata: after a doubling at least half are in use, so a steady stream leaves ≥ T candidates
  const buckets = 2 * target
  const state: State = {
    _tag: 'PruneState',
    target,
    maxTopics,
    keepBytes: opts.keepBytes ?? Number.POSITIVE_INFINITY,
    seen: 0,
    topics: new Map(),
    otherCount: 0,
    otherRange: undefined,
    headCap,
    tailCap: errorCap - headCap,
    errorHead: [],
    errorTail: new Map(),
    errorTailBySig: new Map(),
    slotCap: Math.min(target, maxTopics),
    holders: 0,
    oneOffs: [],
    oneOffHead: 0,
    bucketSeq: new Float64Array(buckets).fill(NO_MESSAGE),
    bucketMsg: new Array<Message | undefined>(buckets).fill(undefined),
    bucketScore: new Float64Array(buckets),
    bucketTie: new Uint32Array(buckets),
    x0: Number.NaN,
    width: 1 / SUB_STEPS,
    lastAt: Number.NaN,
    sameAt: 0,
    all: [],
  }
  return state
}

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

function widen(r: Range | undefined, x: number): Range {
  if (r === undefined) return { min: x, max: x }
  if (x < r.min) r.min = x
  if (x > r.max) r.max = x
  return r
}

/**
 * Gives a new topic a first/last slot. When all are taken, the oldest holder that still has a single message
 * gives its slot up: a retained dump of one-off topics must not lock out the live topics that follow it.
 */
function admitHolder(s: State, t: TopicStats, seq: number, m: Message): void {
  if (s.holders >= s.slotCap) {
    let freed = false
    while (!freed && s.oneOffHead < s.oneOffs.length) {
      const o = s.oneOffs[s.oneOffHead++]!
      if (o.holder && o.count === 1) {
        o.holder = false
        o.firstMsg = o.lastMsg = undefined
        o.firstSeq = o.lastSeq = NO_MESSAGE
        freed = true
      }
    }
    if (s.oneOffHead > 64 && s.oneOffHead * 2 > s.oneOffs.length) {
      s.oneOffs.splice(0, s.oneOffHead)
      s.oneOffHead = 0
    }
    if (!freed) return
  } else {
    s.holders++
  }
  t.holder = true
  t.firstSeq = t.lastSeq = seq
  t.firstMsg = t.lastMsg = m
  s.oneOffs.push(t)
}

/**
 * Every error is kept until E are held. After that the first ⌈E/2⌉ stay (when the trouble started) and the
 * other places hold the latest errors, where a new error displaces an older copy of itself (same topic and
 * payload) before anything else: a repeating error takes one place, so rarer errors survive a flood of it.
 */
function keepError(s: State, seq: number, m: Message, value: number): void {
  if (s.errorHead.length < s.headCap) {
    s.errorHead.push({ seq, m })
    return
  }
  if (s.tailCap === 0) return
  const sig = `${m.topic}\u0000${value}`
  if (s.errorTail.size >= s.tailCap) {
    const copy = s.errorTailBySig.get(sig)
    if (copy !== undefined) {
      s.errorTail.delete(copy)
    } else {
      const oldest = s.errorTail.values().next().value
      if (oldest !== undefined) {
        s.errorTail.delete(oldest.seq)
        if (s.errorTailBySig.get(oldest.sig) === oldest.seq) s.errorTailBySig.delete(oldest.sig)
      }
    }
  }
  s.errorTail.set(seq, { seq, m, sig })
  s.errorTailBySig.set(sig, seq)
}

function beats(score: number, tie: number, s: State, j: number): boolean {
  const other = s.bucketScore[j]!
  return score > other || (score === other && tie > s.bucketTie[j]!)
}

function putBucket(s: State, j: number, seq: number, m: Message | undefined, score: number, tie: number): void {
  s.bucketSeq[j] = seq
  s.bucketMsg[j] = m
  s.bucketScore[j] = score
  s.bucketTie[j] = tie
}

/** Doubles the strata width: bucket j takes the better of old buckets 2j and 2j+1. */
function mergeBuckets(s: State): void {
  const n = s.bucketSeq.length
  for (let j = 0; j < n / 2; j++) {
    const a = 2 * j
    const b = a + 1
    const takeB = s.bucketSeq[b]! !== NO_MESSAGE && (s.bucketSeq[a]! === NO_MESSAGE || beats(s.bucketScore[b]!, s.bucketTie[b]!, s, a))
    const k = takeB ? b : a
    putBucket(s, j, s.bucketSeq[k]!, s.bucketMsg[k], s.bucketScore[k]!, s.bucketTie[k]!)
  }
  for (let j = n / 2; j < n; j++) putBucket(s, j, NO_MESSAGE, undefined, 0, 0)
  s.width *= 2
}

function offerSample(s: State, seq: number, m: Message, x: number, score: number): void {
  const n = s.bucketSeq.length
  let j = Math.floor((x - s.x0) / s.width)
  // out-of-order timestamps land in the earliest stratum rather than being lost
  if (!(j >= 0)) j = 0
  while (j >= n) {
    mergeBuckets(s)
    j = Math.floor((x - s.x0) / s.width)
  }
  const tie = mix32(seq)
  if (s.bucketSeq[j]! === NO_MESSAGE || beats(score, tie, s, j)) putBucket(s, j, seq, m, score, tie)
}

/** Advances the state by one message, in place, and returns it; O(1) amortised, O(targetCount) at worst. */
export function pruneStep(state: PruneState, message: Message): PruneState {
  const s = state as State
  const seq = s.seen++
  // analysed whole, held as a head: candidates outlive the young generation (see keep-head.ts)
  const sn = sniffMessage(message)
  const m = message.payload.length > s.keepBytes ? keepHead(message, s.keepBytes) : message
  let t = s.topics.get(m.topic)
  if (t === undefined && s.topics.size < s.maxTopics) {
    t = {
      name: m.topic,
      order: s.topics.size,
      isErrorTopic: ERROR_WORDS.test(m.topic),
      count: 0,
      shapes: [],
      lastValue: 0,
      range: undefined,
      fields: [],
      holder: false,
      firstSeq: NO_MESSAGE,
      firstMsg: undefined,
      lastSeq: NO_MESSAGE,
      lastMsg: undefined,
    }
    s.topics.set(m.topic, t)
  }

  // Sample score: a new shape for its topic beats a changed value, which beats a repeat; within those,
  // messages of quieter topics win (the rarity term is < 1, and steps by powers of two so ties stay common
  // enough for the hashed tie-break to spread picks over a stratum instead of favouring its start).
  let score: number
  let isError: boolean
  if (t === undefined) {
    s.otherCount++
    if (sn.num !== undefined) s.otherRange = widen(s.otherRange, sn.num)
    isError = sn.error || ERROR_WORDS.test(m.topic)
    score = 3
  } else {
    const first = t.count === 0
    t.count++
    isError = sn.error || t.isErrorTopic
    const newShape = !first && !t.shapes.includes(sn.shape)
    if (first || (newShape && t.shapes.length < MAX_SHAPES_PER_TOPIC)) t.shapes.push(sn.shape)
    const changed = first || sn.value !== t.lastValue
    t.lastValue = sn.value
    if (sn.num !== undefined) t.range = widen(t.range, sn.num)
    if (sn.fields !== undefined) trackFields(t, message.payload, sn.fields)
    if (first) admitHolder(s, t, seq, m)
    else if (t.holder) {
      t.lastSeq = seq
      t.lastMsg = m
    }
    // a holder's first message is kept by its own rule: it only fills a stratum nothing else wants
    score = first && t.holder ? -1 : (newShape ? 4 : 0) + (changed ? 2 : 0) + 1 / (32 - Math.clz32(t.count))
  }

  // Messages sharing a millisecond get sub-ms positions so a burst (a retained replay) still spreads.
  const at = Number.isFinite(m.receivedAt) ? m.receivedAt : Number.isFinite(s.lastAt) ? s.lastAt : 0
  if (at === s.lastAt) s.sameAt = Math.min(s.sameAt + 1, SUB_STEPS - 1)
  else {
    s.lastAt = at
    s.sameAt = 0
  }
  const x = at + s.sameAt / SUB_STEPS
  if (Number.isNaN(s.x0)) s.x0 = x

  // Until more than the target arrived, nothing needs dropping: strata alone would keep one message per
  // stratum and lose most of a burst (30 messages within a few ms showed as 11 with a target of 100).
  if (s.all !== undefined) {
    if (s.seen <= s.target) s.all.push({ seq, m, error: isError })
    else s.all = undefined
  }

  // Errors beyond the error store's cap are dropped, not sampled: a flood must not crowd out the rest.
  if (isError) keepError(s, seq, m, sn.value)
  else offerSample(s, seq, m, x, score)
  return s
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)))
}

function rangeText(label: string, r: Range): string {
  return r.min === r.max ? `${label} ${fmt(r.min)}` : `${label} ${fmt(r.min)}–${fmt(r.max)}`
}

function summaryLine(name: string, count: number, kept: number, range: Range | undefined, fields: readonly FieldRange[]): string {
  const parts = [`${name}: ${count - kept} of ${count} dropped`]
  if (range !== undefined) parts.push(rangeText(range.min === range.max ? 'value' : 'values', range))
  for (const f of fields) parts.push(rangeText(f.name, f))
  return parts.join(', ')
}

/** Picks the kept messages and describes the rest; does not change the state, so it can run mid-window. */
export function pruneResult(state: PruneState): PruneResult {
  const s = state as State
  if (s.all !== undefined) return keepEverything(s, s.all)
  /** seq → the message and the rule that kept it. */
  const keep = new Map<number, readonly [Message, PruneRule]>()

  for (const h of s.errorHead) keep.set(h.seq, [h.m, 'error'])
  for (const h of s.errorTail.values()) keep.set(h.seq, [h.m, 'error'])

  // Topics by message count, then first seen: a busy topic's first and last show how it moved, a one-off
  // topic (first = last, often a retained state) needs one place. When one place is left for a pair, the
  // last message goes in: it is the topic's current state.
  const holders = [...s.topics.values()].filter((t) => t.holder).sort((a, b) => b.count - a.count || a.order - b.order)
  const keepHeld = (seq: number, m: Message | undefined): void => {
    if (m === undefined || keep.has(seq) || keep.size >= s.target) return
    keep.set(seq, [m, 'first_last'])
  }
  for (const t of holders) {
    if (keep.size >= s.target) break
    keepHeld(t.lastSeq, t.lastMsg)
    keepHeld(t.firstSeq, t.firstMsg)
  }

  // Sample: the strata in time order, cut into as many contiguous groups as there is room, best of each.
  const strata: number[] = []
  for (let j = 0; j < s.bucketSeq.length; j++) {
    const seq = s.bucketSeq[j]!
    if (seq !== NO_MESSAGE && !keep.has(seq)) strata.push(j)
  }
  const room = s.target - keep.size
  const take = (j: number): void => void keep.set(s.bucketSeq[j]!, [s.bucketMsg[j]!, 'sample'])
  if (strata.length <= room) strata.forEach(take)
  else {
    for (let g = 0; g < room; g++) {
      const lo = Math.floor((g * strata.length) / room)
      const hi = Math.floor(((g + 1) * strata.length) / room)
      let best = strata[lo]!
      for (let i = lo + 1; i < hi; i++) {
        const j = strata[i]!
        if (beats(s.bucketScore[j]!, s.bucketTie[j]!, s, best)) best = j
      }
      take(best)
    }
  }

  const order = [...keep.entries()].sort((a, b) => a[0] - b[0])
  const kept = order.map((e) => e[1][0])
  const rules = order.map((e) => e[1][1])

  const keptPerTopic = new Map<string, number>()
  let keptOther = 0
  for (const m of kept) {
    if (s.topics.has(m.topic)) keptPerTopic.set(m.topic, (keptPerTopic.get(m.topic) ?? 0) + 1)
    else keptOther++
  }
  const lossy = [...s.topics.values()]
    .map((t) => ({ t, dropped: t.count - (keptPerTopic.get(t.name) ?? 0) }))
    .filter((e) => e.dropped > 0)
    .sort((a, b) => b.dropped - a.dropped || a.t.order - b.t.order)
  const summary = lossy.map(({ t }) => summaryLine(t.name, t.count, keptPerTopic.get(t.name) ?? 0, t.range, t.fields))
  if (s.otherCount > keptOther) {
    summary.push(summaryLine(`other topics (beyond ${s.maxTopics} tracked)`, s.otherCount, keptOther, s.otherRange, []))
  }

  return {
    kept,
    seen: s.seen,
    keptCount: kept.length,
    dropped: s.seen - kept.length,
    byRule: countRules(rules),
    rules,
    summary,
  }
}

/** The result when no more than the target arrived: every message, each counted under the rule that would keep it. */
function keepEverything(s: State, all: NonNullable<State['all']>): PruneResult {
  const rules = all.map((h): PruneRule => {
    if (h.error) return 'error'
    const t = s.topics.get(h.m.topic)
    return t !== undefined && t.holder && (t.firstSeq === h.seq || t.lastSeq === h.seq) ? 'first_last' : 'sample'
  })
  return {
    kept: all.map((h) => h.m),
    seen: s.seen,
    keptCount: all.length,
    dropped: 0,
    byRule: countRules(rules),
    rules,
    summary: [],
  }
}

/** How many of `rules` each rule is. */
export function countRules(rules: readonly PruneRule[]): { error: number; first_last: number; sample: number } {
  const n = { error: 0, first_last: 0, sample: 0 }
  for (const r of rules) n[r]++
  return n
}

/** How much the state holds right now (message references and index entries), to check it stays bounded. */
export function pruneStateSize(state: PruneState): PruneStateSize {
  const s = state as State
  let candidates = s.errorHead.length + s.errorTail.size + (s.all?.length ?? 0)
  for (const t of s.topics.values()) if (t.holder) candidates += 2
  for (let j = 0; j < s.bucketSeq.length; j++) if (s.bucketSeq[j]! !== NO_MESSAGE) candidates++
  return { candidates, topics: s.topics.size, index: s.errorTailBySig.size + s.oneOffs.length }
}
