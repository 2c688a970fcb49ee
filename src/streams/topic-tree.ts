/**
 * Topic discovery as a pure reducer and a renderer. `indexStep` folds each message of a discovery window
 * into a flat per-topic index (bounded by `maxTopics`, a few hundred bytes a topic whatever the payloads);
 * `renderTree` turns that index into a topic tree that fits the output budget, folding branches into their
 * parents when it must. No RxJS and no clock here: the window lifts `indexStep` with `scan`/`reduce`.
 *
 *   messages  ──indexStep──▶  TopicIndex (Map topic → TopicStats)  ──renderTree(budget)──▶  TopicTreeResult
 */
import { isUtf8 } from 'node:buffer'
import { mayBeJson, type PayloadKind } from '../mqtt/payload.js'
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Limits of a topic index: `maxTopics` 1..100000 distinct topics, samples of `sampleChars` UTF-16 units (default 80). */
export interface TopicIndexOptions {
  readonly maxTopics: number
  readonly sampleChars?: number
}

/** What the index keeps for one topic; mutated in place by `indexStep`. */
export interface TopicStats {
  /** Live messages only: retained replays caused by our subscription are not traffic. */
  messages: number
  /** True once a retained message was seen on this topic. */
  retained: boolean
  /** When the last message (live or retained) arrived, ms since the epoch. */
  lastSeen: number
  /** Kind of the last payload. */
  kind: PayloadKind
  /** The last payload in short: at most `sampleChars` UTF-16 units, binary as `<binary N bytes>`. */
  sample: string
  /** Size of the last payload in bytes. */
  sizeBytes: number
}

/**
 * The state of topic discovery: a flat map topic → stats, owned by the reducer and updated in place
 * (one window, one index), so a message costs a map lookup and a payload peek, not a copy.
 */
export interface TopicIndex {
  readonly maxTopics: number
  readonly sampleChars: number
  readonly topics: Map<string, TopicStats>
  /** True when a topic was turned away because `maxTopics` topics were already indexed. */
  truncated: boolean
  /** Messages (live or retained) on topics that were turned away. */
  unindexedMessages: number
}

/** One node of the rendered tree: counts are of the topics at or below it; a folded node hides its children. */
export interface TopicTreeNode {
  name: string
  path: string
  /** Topics at or below this node. */
  topics: number
  /** Live messages at or below this node. */
  messages: number
  /** Retained topics at or below this node. */
  retained: number
  /** ISO time of the latest message at or below this node. */
  last_seen: string | null
  /** Only on nodes that are topics themselves. */
  kind?: PayloadKind
  /** Only on topic nodes, and only while the budget allows samples. */
  sample?: string
  children?: TopicTreeNode[]
  folded?: true
}

/** A rendered topic tree with its totals; `folded` says branches were folded to fit the budget. */
export interface TopicTreeResult {
  topic_count: number
  message_count: number
  retained_count: number
  /** `maxTopics` was reached: some topics were not indexed. */
  truncated: boolean
  /** Some branches were folded to fit the budget (folding asked for with `depth` does not count). */
  folded: boolean
  tree: TopicTreeNode[]
}

/** How `renderTree` sizes the tree: the result's JSON stays within 90% of `budgetChars`; `depth` (≥ 1) folds every node at that level. */
export interface RenderOptions {
  readonly budgetChars: number
  readonly depth?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const DEFAULT_SAMPLE_CHARS = 80
const MAX_TOPICS_LIMIT = 100_000

/** An empty index; throws RangeError on limits outside the tool contract (the codec checks them first). */
export function initialTopicIndex(opts: TopicIndexOptions): TopicIndex {
  const sampleChars = opts.sampleChars ?? DEFAULT_SAMPLE_CHARS
  if (!Number.isInteger(opts.maxTopics) || opts.maxTopics < 1 || opts.maxTopics > MAX_TOPICS_LIMIT) {
    throw new RangeError(`maxTopics must be an integer in 1..${MAX_TOPICS_LIMIT}, got ${opts.maxTopics}`)
  }
  if (!Number.isInteger(sampleChars) || sampleChars < 0) {
    throw new RangeError(`sampleChars must be a non-negative integer, got ${sampleChars}`)
  }
  return { maxTopics: opts.maxTopics, sampleChars, topics: new Map(), truncated: false, unindexedMessages: 0 }
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** Folds one message into the index (in place) and returns it: the `scan` step of topic discovery. */
export function indexStep(index: TopicIndex, m: Message): TopicIndex {
  let s = index.topics.get(m.topic)
  if (s === undefined) {
    if (index.topics.size >= index.maxTopics) {
      index.truncated = true
      index.unindexedMessages++
      return index
    }
    s = { messages: 0, retained: false, lastSeen: m.receivedAt, kind: 'empty', sample: '', sizeBytes: 0 }
    index.topics.set(m.topic, s)
  }
  // A broker sets the retain flag only on messages it replays for a new subscription (MQTT 3.1.1 §3.3.1.3;
  // we never ask for retain-as-published), so a flagged message is stored state, not traffic.
  if (m.retain) s.retained = true
  else s.messages++
  if (m.receivedAt > s.lastSeen) s.lastSeen = m.receivedAt
  describeInto(s, m.payload, index.sampleChars)
  return index
}

/**
 * Sets kind and sample from a payload. Samples are built from the bytes, never sliced from a decoded
 * payload: a V8 slice keeps its whole parent string alive, and 100,000 topics of large payloads would not
 * stay bounded. Kinds are those of `classifyPayload`, except that bytes that are not UTF-8 are always binary.
 */
function describeInto(s: TopicStats, buf: Buffer, maxUnits: number): void {
  s.sizeBytes = buf.length
  if (buf.length === 0) {
    s.kind = 'empty'
    s.sample = ''
    return
  }
  if (!isUtf8(buf)) {
    s.kind = 'binary'
    s.sample = `<binary ${buf.length} bytes>`
    return
  }
  // the byte check first: a throwing JSON.parse of plain text costs ~5 µs, the check a few ns
  const kind = mayBeJson(buf) ? jsonKind(buf.toString('utf8')) : undefined
  if (kind !== undefined) {
    s.kind = kind
    s.sample = compactJsonPrefix(buf, maxUnits)
  } else {
    s.kind = 'text'
    s.sample = utf8Prefix(buf, maxUnits)
  }
}

function jsonKind(text: string): PayloadKind | undefined {
  try {
    return typeof JSON.parse(text) === 'number' ? 'number' : 'json'
  } catch {
    return undefined
  }
}

/** UTF-16 units a UTF-8 lead byte starts: 4-byte sequences are astral, two units in JS. */
const unitsOf = (lead: number): number => (lead >= 0xf0 ? 2 : 1)
const isContinuation = (b: number): boolean => (b & 0xc0) === 0x80

/** The first `maxUnits` UTF-16 units of valid UTF-8, decoded from just those bytes. */
function utf8Prefix(buf: Buffer, maxUnits: number): string {
  if (buf.length <= maxUnits) return buf.toString('utf8')
  let units = 0
  let end = 0
  while (end < buf.length) {
    const u = unitsOf(buf[end]!)
    if (units + u > maxUnits) break
    units += u
    end++
    while (end < buf.length && isContinuation(buf[end]!)) end++
  }
  return buf.toString('utf8', 0, end)
}

/**
 * The first `maxUnits` UTF-16 units of a valid JSON payload with the whitespace between tokens removed.
 * Works on bytes (JSON's structural bytes are ASCII, so multi-byte characters never look like them) and
 * keeps the payload's own spelling of numbers and escapes. Most payloads are compact already: a copy is
 * made only once whitespace has to be skipped.
 */
function compactJsonPrefix(buf: Buffer, maxUnits: number): string {
  let out: Buffer | undefined
  let n = 0
  let units = 0
  let inString = false
  let escaped = false
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if (!inString && (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) {
      if (out === undefined) {
        out = Buffer.allocUnsafe(Math.min(buf.length, maxUnits * 4))
        buf.copy(out, 0, 0, n)
      }
      continue
    }
    if (!isContinuation(b)) {
      const u = unitsOf(b)
      if (units + u > maxUnits) break
      units += u
    }
    if (out !== undefined) out[n] = b
    n++
    if (inString) {
      if (escaped) escaped = false
      else if (b === 0x5c) escaped = true
      else if (b === 0x22) inString = false
    } else if (b === 0x22) inString = true
  }
  return (out ?? buf).toString('utf8', 0, n)
}

// -------------------------------------------------------------------------------------
// renderer
// -------------------------------------------------------------------------------------

/**
 * Renders the index as a topic tree whose JSON fits 90% of `budgetChars`.
 *
 * Folding policy, deterministic for a given index: start from the roots, each folded, and unfold branches
 * level by level (all of level 1 before any of level 2), the cheapest first within a level; a branch whose
 * children do not fit the rest of the budget stays folded with its counts. So the top levels stay visible and
 * the deepest and widest branches are the ones folded. Structure comes before samples: once no more
 * branches can be unfolded, samples are added to the visible topics, top levels first, while they fit.
 * If even the folded roots do not fit, the whole tree becomes one folded summary node `#`.
 * Sizes are computed, not stringified, while deciding; one stringify at the end checks the result.
 */
export function renderTree(index: TopicIndex, opts: RenderOptions): TopicTreeResult {
  const maxDepth = opts.depth ?? Infinity
  if (!Number.isInteger(opts.budgetChars) || opts.budgetChars < 1) {
    throw new RangeError(`budgetChars must be a positive integer, got ${opts.budgetChars}`)
  }
  if (maxDepth !== Infinity && (!Number.isInteger(maxDepth) || maxDepth < 1)) {
    throw new RangeError(`depth must be an integer ≥ 1, got ${opts.depth}`)
  }
  const totals = totalsOf(index)
  // headroom for the caller's envelope (stopped_by, content block framing)
  let target = Math.floor(opts.budgetChars * 0.9)
  for (let attempt = 0; attempt < 3 && target > 0; attempt++) {
    const result = layout(index, totals, target, maxDepth, index.sampleChars > 0)
    if (result === undefined) break
    const length = JSON.stringify(result).length
    if (length <= target) return result
    // the size arithmetic should be exact; if it ever is not, shrink by the error rather than overflow
    target -= length - target
  }
  const summary = summaryOf(index, totals)
  if (JSON.stringify(summary).length <= opts.budgetChars) return summary
  return { ...summary, tree: [] }
}

interface Totals {
  readonly topics: number
  readonly messages: number
  readonly retained: number
  readonly lastSeen: number
}

function totalsOf(index: TopicIndex): Totals {
  let messages = 0
  let retained = 0
  let lastSeen = -Infinity
  for (const s of index.topics.values()) {
    messages += s.messages
    if (s.retained) retained++
    if (s.lastSeen > lastSeen) lastSeen = s.lastSeen
  }
  return { topics: index.topics.size, messages, retained, lastSeen }
}

function summaryOf(index: TopicIndex, t: Totals): TopicTreeResult {
  const root: TopicTreeNode = {
    name: '#',
    path: '#',
    topics: t.topics,
    messages: t.messages,
    retained: t.retained,
    last_seen: isoOrNull(t.lastSeen),
    folded: true,
  }
  return {
    topic_count: t.topics,
    message_count: t.messages,
    retained_count: t.retained,
    truncated: index.truncated,
    folded: t.topics > 0,
    tree: t.topics > 0 ? [root] : [],
  }
}

/** A level of the topic tree while rendering; counts aggregate the topics at or below it. */
interface Branch {
  readonly name: string
  readonly parent: Branch | undefined
  readonly depth: number
  children: Map<string, Branch> | undefined
  stats: TopicStats | undefined
  topics: number
  messages: number
  retained: number
  lastSeen: number
  /** JSON-escaped length of the path, without quotes. */
  escPath: number
  /** JSON length of this node shown folded (or as a leaf), without its sample. */
  cost: number
  /** JSON length added by unfolding it: its children, each folded. */
  delta: number
  /** Visit order: breaks ties between equally cheap branches by their place in the sorted tree. */
  seq: number
  /** Children by name, set once the branch is unfolded. */
  shown: Branch[] | undefined
}

function buildTrie(topics: ReadonlyMap<string, TopicStats>): Map<string, Branch> {
  const roots = new Map<string, Branch>()
  for (const [topic, s] of topics) {
    let level = roots
    let parent: Branch | undefined
    let start = 0
    for (;;) {
      const slash = topic.indexOf('/', start)
      const name = slash < 0 ? topic.slice(start) : topic.slice(start, slash)
      let b = level.get(name)
      if (b === undefined) {
        b = {
          name, parent, depth: parent === undefined ? 1 : parent.depth + 1, children: undefined, stats: undefined,
          topics: 0, messages: 0, retained: 0, lastSeen: -Infinity, escPath: 0, cost: 0, delta: 0, seq: 0, shown: undefined,
        }
        level.set(name, b)
      }
      b.topics++
      b.messages += s.messages
      if (s.retained) b.retained++
      if (s.lastSeen > b.lastSeen) b.lastSeen = s.lastSeen
      if (slash < 0) {
        b.stats = s
        break
      }
      b.children ??= new Map()
      level = b.children
      parent = b
      start = slash + 1
    }
  }
  return roots
}

// JSON lengths of the fixed parts of a node; name, path, numbers and time are added per node
const NODE_FIXED = '{"name":,"path":,"topics":,"messages":,"retained":,"last_seen":}'.length
const KIND_KEY = ',"kind":""'.length
const SAMPLE_KEY = ',"sample":'.length
// ',"folded":true' and ',"children":[]' are both 14 characters, so unfolding only adds the children
const FOLDED = ',"folded":true'.length

function prepare(b: Branch): void {
  const escName = jsonStringLength(b.name) - 2
  b.escPath = b.parent === undefined ? escName : b.parent.escPath + 1 + escName
  b.cost =
    NODE_FIXED + escName + 2 + b.escPath + 2 +
    digits(b.topics) + digits(b.messages) + digits(b.retained) + isoJsonLength(b.lastSeen) +
    (b.stats === undefined ? 0 : KIND_KEY + b.stats.kind.length) +
    (b.children === undefined ? 0 : FOLDED)
}

/** Prepares a branch's children and returns what unfolding it would add. */
function unfoldDelta(b: Branch): number {
  let sum = -1
  for (const c of b.children!.values()) {
    prepare(c)
    sum += c.cost + 1
  }
  return sum
}

const byName = (a: Branch, b: Branch): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** Decides what is shown within `target` characters and builds it; undefined when even the folded roots do not fit. */
function layout(index: TopicIndex, t: Totals, target: number, maxDepth: number, samples: boolean): TopicTreeResult | undefined {
  const roots = [...buildTrie(index.topics).values()].sort(byName)
  // upper bound for the envelope: "folded":false is the longer spelling
  let total = JSON.stringify({
    topic_count: t.topics, message_count: t.messages, retained_count: t.retained, truncated: index.truncated, folded: false, tree: [],
  }).length
  for (const r of roots) {
    prepare(r)
    total += r.cost
  }
  total += Math.max(0, roots.length - 1)
  if (total > target) return undefined

  let seq = 0
  let foldedToFit = false
  const heap = new BranchHeap()
  const offer = (b: Branch): void => {
    b.seq = seq++
    if (b.children === undefined || b.depth >= maxDepth) return
    b.delta = unfoldDelta(b)
    heap.push(b)
  }
  roots.forEach(offer)
  for (let b = heap.pop(); b !== undefined; b = heap.pop()) {
    if (total + b.delta > target) {
      foldedToFit = true
      continue
    }
    total += b.delta
    b.shown = [...b.children!.values()].sort(byName)
    b.shown.forEach(offer)
  }

  // breadth first over what is shown: samples go to the top levels first, and parents are built before children
  const tree: TopicTreeNode[] = []
  const queue: { b: Branch; path: string; into: TopicTreeNode[] }[] = roots.map((b) => ({ b, path: b.name, into: tree }))
  for (let head = 0; head < queue.length; head++) {
    const { b, path, into } = queue[head]!
    const node: TopicTreeNode = {
      name: b.name, path, topics: b.topics, messages: b.messages, retained: b.retained, last_seen: isoOrNull(b.lastSeen),
    }
    if (b.stats !== undefined) {
      node.kind = b.stats.kind
      if (samples) {
        const extra = SAMPLE_KEY + jsonStringLength(b.stats.sample)
        if (total + extra <= target) {
          total += extra
          node.sample = b.stats.sample
        }
      }
    }
    if (b.shown !== undefined) {
      const children: TopicTreeNode[] = []
      node.children = children
      for (const c of b.shown) queue.push({ b: c, path: `${path}/${c.name}`, into: children })
    } else if (b.children !== undefined) {
      node.folded = true
    }
    into.push(node)
  }
  return {
    topic_count: t.topics, message_count: t.messages, retained_count: t.retained, truncated: index.truncated, folded: foldedToFit, tree,
  }
}

/** A binary min-heap of branches by (depth, delta, seq): level by level, cheapest first, then tree order. */
class BranchHeap {
  private readonly items: Branch[] = []

  push(b: Branch): void {
    const a = this.items
    a.push(b)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }

  pop(): Branch | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length === 0 || last === undefined) return top
    a[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < a.length && before(a[l]!, a[m]!)) m = l
      if (r < a.length && before(a[r]!, a[m]!)) m = r
      if (m === i) break
      ;[a[i], a[m]] = [a[m]!, a[i]!]
      i = m
    }
    return top
  }
}

const before = (x: Branch, y: Branch): boolean =>
  x.depth !== y.depth ? x.depth < y.depth : x.delta !== y.delta ? x.delta < y.delta : x.seq < y.seq

// -------------------------------------------------------------------------------------
// sizes
// -------------------------------------------------------------------------------------

const digits = (n: number): number => String(n).length

// Date's range is ±8.64e15 ms; years 0..9999 print as 24 characters, others with a sign and six digits
const MIN_4_DIGIT_YEAR = -62_167_219_200_000
const MAX_4_DIGIT_YEAR = 253_402_300_799_999
const validTime = (ms: number): boolean => Number.isFinite(ms) && Math.abs(ms) <= 8.64e15

function isoOrNull(ms: number): string | null {
  return validTime(ms) ? new Date(ms).toISOString() : null
}

function isoJsonLength(ms: number): number {
  if (!validTime(ms)) return 4
  return ms >= MIN_4_DIGIT_YEAR && ms <= MAX_4_DIGIT_YEAR ? 26 : 29
}

/** Length of `JSON.stringify(s)`, without building it (ES2019 well-formed: lone surrogates become \uXXXX). */
function jsonStringLength(s: string): number {
  let n = s.length + 2
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20) n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 1 : 5
    else if (c === 0x22 || c === 0x5c) n += 1
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++
      else n += 5
    }
  }
  return n
}
