/**
 * Renders a topic index (topic-index.ts) as a topic tree that fits an output budget: biggest branches first, the
 * rest of a level folded into a `+` node that keeps its counts. No RxJS and no clock here.
 *
 *   TopicIndex  ──renderTree(budget)──▶  TopicTreeResult
 *
 * Why it is shaped so: the index may hold 100,000 topics and the budget a few hundred nodes, so the work follows
 * what is shown, not the topics: one sort into tree order makes every branch a run of keys, branches are counted
 * when their turn comes, and only the heaviest children become objects. Sizes are exact arithmetic on JSON lengths
 * (see `sizes`), so deciding never stringifies; one stringify at the end checks the result.
 *
 * The index and its reducer are re-exported from here, so that discovery's callers need one import.
 */
import type { PayloadKind } from '../mqtt/payload.js'
import type { TopicIndex, TopicTable } from './topic-index.js'

export {
  indexStep,
  initialTopicIndex,
  TopicTable,
  type TopicIndex,
  type TopicIndexOptions,
  type TopicStats,
} from './topic-index.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One node of the rendered tree: counts are of the topics at or below it; a folded node hides its children. */
export interface TopicTreeNode {
  /** The topic level; `+` for a node that sums the children of its parent that are not shown (`#` for all roots). */
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
// renderer
// -------------------------------------------------------------------------------------

/**
 * Renders the index as a topic tree whose JSON fits 90% of `budgetChars`.
 *
 * Folding policy, deterministic for a given index (ties go by tree order, never by arrival):
 * - Biggest first. A branch weighs its share of the topics plus its share of the live messages. Starting from the
 *   roots, the heaviest child of any shown branch is shown next while it fits, at whatever depth it is: the
 *   budget goes where the topics and the traffic are.
 * - A level that is not shown whole lists its shown children in name order, then one folded node named `+` (path
 *   `parent/+`, the filter for that level) with the counts of the other children and everything below them; a
 *   single child left over is shown as itself. At the top it is `#` when no root is shown.
 * - One example first: the heaviest path is followed down to a topic, shown with its sample (as are topics on
 *   the way), so that even a tree folded at its second level shows what its topics carry.
 * - Structure before samples: once no more branches fit, samples are added to the visible topics, top levels
 *   first, while they fit.
 * Sizes are computed, not stringified, while deciding; one stringify at the end checks the result.
 *
 * Work and memory are bounded by what is shown, not by the number of topics: the topics are sorted once into tree
 * order, so that every branch is a run of the sorted keys; a pass over a branch's run counts its children and keeps
 * only the heaviest few as objects (another pass keeps more when they run out, up to what could ever fit).
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
  const sorted = sortTopics(index)
  // headroom for the caller's envelope (stopped_by, content block framing)
  let target = Math.floor(opts.budgetChars * 0.9)
  for (let attempt = 0; attempt < 3 && target > 0; attempt++) {
    const result = layout(sorted, index.truncated, totals, target, maxDepth, index.sampleChars > 0)
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
  const t = index.topics
  for (let row = 0; row < t.size; row++) {
    messages += t.messages[row]!
    if (t.isRetained(row)) retained++
    if (t.lastSeen[row]! > lastSeen) lastSeen = t.lastSeen[row]!
  }
  return { topics: t.size, messages, retained, lastSeen }
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

/** The topics in tree order, with their rows alongside: the only arrays as long as the index. */
interface Sorted {
  readonly table: TopicTable
  readonly keys: readonly string[]
  readonly rows: Int32Array
}

const SLASH = 0x2f

/** Tree order: level by level, names by UTF-16 code units (as `<` compares them); so '/' sorts first. */
function treeOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return (x === SLASH ? -1 : x) - (y === SLASH ? -1 : y)
  }
  return a.length - b.length
}

function sortTopics(index: TopicIndex): Sorted {
  const table = index.topics
  const keys = [...table.keys()].sort(treeOrder)
  const rows = new Int32Array(keys.length)
  keys.forEach((k, i) => (rows[i] = table.rowOf(k)!))
  return { table, keys, rows }
}

/**
 * A branch while laying out. In tree order a branch is a run of the sorted keys, `lo` up to `hi`: its own topic
 * first (if it is one), then everything below it.
 */
interface Span {
  lo: number
  hi: number
  /** Its name is keys[lo] from nameStart to nameEnd, its path keys[lo] up to nameEnd. */
  nameStart: number
  nameEnd: number
  depth: number
  /** The row of the topic whose name is this branch's path, or -1. */
  own: number
  topics: number
  messages: number
  retained: number
  lastSeen: number
  weight: number
  /** JSON-escaped length of the path, without quotes; -1 for the top, so that a root's is its name's. */
  escPath: number
  /** JSON length of this node shown folded (or as a leaf), without its sample. */
  cost: number
  /** Shown with its sample as part of the example path. */
  sample: boolean
  /** Its children, once counted. */
  level: Level | undefined
  /** Its place in the frontier: the weight and position of its next child (or a bound on them, before counting). */
  rank: number
  rankLo: number
}

/** The children of a branch, and which of them are shown. */
interface Level {
  /** The heaviest children, heaviest first; those before `next` were shown or skipped. */
  kids: Span[]
  next: number
  /** How many children there are. */
  count: number
  /** The longest last_seen (JSON length) among them: what a `+` node's last_seen may cost. */
  maxIso: number
  shown: Span[]
  shownTopics: number
  shownMessages: number
  shownRetained: number
  /** Children that did not fit when their turn came, and the last of them. */
  skipped: number
  lastSkipped: Span | undefined
  /** JSON length of what stands for the children not shown (a `+` node, the one child left, or nothing). */
  restCost: number
}

/** What one layout shares. */
interface Plan extends Sorted {
  /** weight = topics × byTopic + messages × byMessage: a share of the topics plus a share of the messages, in integers. */
  readonly byTopic: number
  readonly byMessage: number
  readonly maxDepth: number
  /** No level can show more children than this within the target, so no pass keeps more. */
  readonly maxKids: number
}

// JSON lengths of the fixed parts of a node; name, path, numbers and time are added per node
const NODE_FIXED = '{"name":,"path":,"topics":,"messages":,"retained":,"last_seen":}'.length
const KIND_KEY = ',"kind":""'.length
const SAMPLE_KEY = ',"sample":'.length
// ',"folded":true' and ',"children":[]' are both 14 characters, so unfolding only adds the children
const FOLDED = ',"folded":true'.length
/** The smallest node there can be, with its comma: `{"name":"","path":"","topics":1,"messages":0,"retained":0,"last_seen":null},`. */
const MIN_NODE = NODE_FIXED + 2 + 2 + 3 + 4 + 1
/** Children kept by a branch's first pass; each further pass keeps four times more. */
const FIRST_PASS = 16
/** Room (chars) below which a child that does not fit ends the counting: a few nodes' worth. */
const FILL_ROOM = 1024

/** Decides what is shown within `target` characters and builds it; undefined when even the top level does not fit. */
function layout(sorted: Sorted, truncated: boolean, t: Totals, target: number, maxDepth: number, samples: boolean): TopicTreeResult | undefined {
  // upper bound for the envelope: "folded":false is the longer spelling
  const envelope = JSON.stringify({
    topic_count: t.topics, message_count: t.messages, retained_count: t.retained, truncated, folded: false, tree: [],
  }).length
  if (envelope > target) return undefined
  const p: Plan = {
    ...sorted,
    byTopic: Math.max(1, t.messages),
    byMessage: t.topics,
    maxDepth,
    maxKids: Math.floor(target / MIN_NODE) + 2,
  }
  const top = span(0, sorted.keys.length, 0, -1, 0, -1, t.topics, t.messages, t.retained, t.lastSeen, 0, -1, 0)
  if (t.topics === 0) return build(p, top, false, target, envelope, truncated, t)
  countChildren(p, top, FIRST_PASS)
  const lv = top.level!
  lv.restCost = restCost(top, lv, lv.count, lv.count === 1 ? lv.kids[0] : undefined, t.topics, t.messages, t.retained)
  let total = envelope + lv.restCost
  if (total > target) return undefined

  // the example path: the heaviest child at each level, down to a topic
  const path: Span[] = [top]
  for (let at = top; ; ) {
    ensureLookahead(p, at)
    const level = at.level!
    const c = level.kids[level.next]
    if (c === undefined) break
    const extra = samples && c.own >= 0 ? SAMPLE_KEY + jsonStringLength(p.table.sampleOf(c.own)) : 0
    const added = show(p, at, c, extra, target - total)
    if (added === undefined) break
    total += added
    if (!expandable(p, c)) break
    countChildren(p, c, FIRST_PASS)
    path.push(c)
    at = c
  }

  // then the heaviest child of any shown branch, while anything fits; branches are counted when their turn comes.
  // Once a child does not fit and little room is left, the children counted so far are enough to fill it: without
  // this, every shown branch would be counted and all its children tried, for the last few characters.
  let filling = false
  const frontier = new Heap<Span>(ranksBefore)
  const offer = (b: Span): void => {
    if (b.level === undefined) {
      if (filling) return
      // nothing below a branch weighs more than the branch without its own topic
      b.rank = b.weight - ownWeight(p, b)
      b.rankLo = b.lo
    } else {
      if (!filling) ensureLookahead(p, b)
      const next = b.level.kids[b.level.next]
      if (next === undefined) return
      b.rank = next.weight
      b.rankLo = next.lo
    }
    frontier.push(b)
  }
  path.forEach(offer)
  for (let b = frontier.pop(); b !== undefined; b = frontier.pop()) {
    if (b.level === undefined) {
      countChildren(p, b, FIRST_PASS)
    } else {
      const level = b.level
      const c = level.kids[level.next]!
      const added = show(p, b, c, 0, target - total)
      if (added === undefined) {
        level.next++
        level.skipped++
        level.lastSkipped = c
        if (target - total < FILL_ROOM) filling = true
      } else {
        total += added
        if (expandable(p, c)) offer(c)
      }
    }
    offer(b)
  }
  return build(p, top, samples, target, total, truncated, t)
}

/** A new span, or `reuse` filled anew (a pass reuses the objects of children that heavier ones pushed out). */
function span(
  lo: number, hi: number, nameStart: number, nameEnd: number, depth: number, own: number,
  topics: number, messages: number, retained: number, lastSeen: number, weight: number, escPath: number, cost: number,
  reuse?: Span,
): Span {
  if (reuse === undefined) {
    return {
      lo, hi, nameStart, nameEnd, depth, own, topics, messages, retained, lastSeen, weight, escPath, cost,
      sample: false, level: undefined, rank: 0, rankLo: 0,
    }
  }
  reuse.lo = lo
  reuse.hi = hi
  reuse.nameStart = nameStart
  reuse.nameEnd = nameEnd
  reuse.depth = depth
  reuse.own = own
  reuse.topics = topics
  reuse.messages = messages
  reuse.retained = retained
  reuse.lastSeen = lastSeen
  reuse.weight = weight
  reuse.escPath = escPath
  reuse.cost = cost
  return reuse
}

const ownWeight = (p: Plan, b: Span): number => (b.own < 0 ? 0 : p.byTopic + p.table.messages[b.own]! * p.byMessage)

/** What a branch's own topic adds to its counts. */
const ownCounts = (p: Plan, b: Span): { topics: number; messages: number; retained: number } =>
  b.own < 0 ? NO_COUNTS : { topics: 1, messages: p.table.messages[b.own]!, retained: p.table.isRetained(b.own) ? 1 : 0 }
const NO_COUNTS = { topics: 0, messages: 0, retained: 0 }

const hasChildren = (b: Span): boolean => b.topics > (b.own < 0 ? 0 : 1)

/** Whether a shown branch may be unfolded: it has children and is above the level `depth` asks to fold. */
const expandable = (p: Plan, b: Span): boolean => hasChildren(b) && b.depth < p.maxDepth

/** Heavier first, then tree order. */
const heavier = (w: number, lo: number, than: Span): boolean => w > than.weight || (w === than.weight && lo < than.lo)
const lighter = (a: Span, b: Span): boolean => heavier(b.weight, b.lo, a)
const ranksBefore = (a: Span, b: Span): boolean => a.rank > b.rank || (a.rank === b.rank && a.rankLo < b.rankLo)

/** Whether `k`, a key in the same run as `key`, has the same name from `from` to `to` (the end of that level in `key`). */
function sameName(k: string, key: string, from: number, to: number): boolean {
  if (k.length < to || (k.length > to && k.charCodeAt(to) !== SLASH)) return false
  for (let i = from; i < to; i++) if (k.charCodeAt(i) !== key.charCodeAt(i)) return false
  return true
}

/**
 * Counts the children of `b` in one pass over its run and keeps the `keep` heaviest, heaviest first. Only kept
 * children become objects, and a child pushed out by a heavier one lends its object to the next.
 */
function countChildren(p: Plan, b: Span, keep: number): void {
  const { keys, rows, table } = p
  const from = b.nameEnd + 1
  const kept = new Heap<Span>(lighter)
  let count = 0
  let maxIso = 0
  for (let i = b.own < 0 ? b.lo : b.lo + 1; i < b.hi; ) {
    const key = keys[i]!
    let to = key.indexOf('/', from)
    if (to < 0) to = key.length
    // in tree order a topic comes right before the topics below it
    const own = key.length === to ? rows[i]! : -1
    let topics = 0
    let messages = 0
    let retained = 0
    let lastSeen = -Infinity
    let j = i
    do {
      const row = rows[j]!
      topics++
      messages += table.messages[row]!
      if (table.isRetained(row)) retained++
      if (table.lastSeen[row]! > lastSeen) lastSeen = table.lastSeen[row]!
      j++
    } while (j < b.hi && sameName(keys[j]!, key, from, to))
    count++
    maxIso = Math.max(maxIso, isoJsonLength(lastSeen))
    const weight = topics * p.byTopic + messages * p.byMessage
    if (kept.size < keep || heavier(weight, i, kept.peek()!)) {
      const escName = escapedLength(key, from, to)
      const escPath = b.escPath + 1 + escName
      const cost =
        NODE_FIXED + escName + 2 + escPath + 2 + digits(topics) + digits(messages) + digits(retained) + isoJsonLength(lastSeen) +
        (own < 0 ? 0 : KIND_KEY + table.kindOf(own).length) + (topics > (own < 0 ? 0 : 1) ? FOLDED : 0)
      const c = span(i, j, from, to, b.depth + 1, own, topics, messages, retained, lastSeen, weight, escPath, cost, kept.size < keep ? undefined : kept.pop())
      kept.push(c)
    }
    i = j
  }
  const kids = kept.drain().reverse()
  if (b.level !== undefined) {
    b.level.kids = kids
    return
  }
  b.level = {
    kids, next: 0, count, maxIso, shown: [], shownTopics: 0, shownMessages: 0, shownRetained: 0, skipped: 0, lastSkipped: undefined, restCost: 0,
  }
}

/** Makes sure the next child and the one after it are counted, when they exist and could still be shown. */
function ensureLookahead(p: Plan, b: Span): void {
  const lv = b.level!
  const want = Math.min(lv.count, lv.next + 2, p.maxKids)
  if (lv.kids.length < want) countChildren(p, b, Math.min(p.maxKids, Math.max(want, lv.kids.length * 4)))
}

/** JSON length of what stands for `left` children not shown: nothing, the one child `alone`, or a `+` node with these counts. */
function restCost(b: Span, lv: Level, left: number, alone: Span | undefined, topics: number, messages: number, retained: number): number {
  if (left === 0) return 0
  if (left === 1) return alone === undefined ? Infinity : alone.cost
  return NODE_FIXED + 3 + b.escPath + 2 + 2 + digits(topics) + digits(messages) + digits(retained) + lv.maxIso + FOLDED
}

/**
 * Shows `c`, the next child of `b` (with `extra` characters of sample), if what that adds fits in `room`;
 * returns what it added, or undefined and changes nothing.
 */
function show(p: Plan, b: Span, c: Span, extra: number, room: number): number | undefined {
  const lv = b.level!
  const left = lv.count - lv.shown.length - 1
  const alone = left !== 1 ? undefined : lv.skipped > 0 ? lv.lastSkipped : lv.kids[lv.next + 1]
  const own = ownCounts(p, b)
  const rest = restCost(
    b, lv, left, alone,
    b.topics - own.topics - lv.shownTopics - c.topics,
    b.messages - own.messages - lv.shownMessages - c.messages,
    b.retained - own.retained - lv.shownRetained - c.retained,
  )
  // a folded branch has no rest yet (restCost 0), and its "folded":true is as long as the "children":[] it gets
  const added = c.cost + extra + rest - lv.restCost + (left > 0 ? 1 : 0)
  if (!(added <= room)) return undefined
  lv.shown.push(c)
  lv.shownTopics += c.topics
  lv.shownMessages += c.messages
  lv.shownRetained += c.retained
  lv.restCost = rest
  lv.next++
  c.sample = extra > 0
  return added
}

/** Builds what `layout` decided, breadth first: samples go to the top levels first, and parents are built before children. */
function build(p: Plan, top: Span, samples: boolean, target: number, total: number, truncated: boolean, t: Totals): TopicTreeResult {
  const { keys, rows, table } = p
  let folded = false
  const tree: TopicTreeNode[] = []
  // a parent's rest node is queued right after its children, so it lands last among them
  const queue: { b: Span | undefined; rest: TopicTreeNode | undefined; into: TopicTreeNode[] }[] = []
  const enqueueChildren = (b: Span, into: TopicTreeNode[]): void => {
    const lv = b.level!
    const shown = [...lv.shown].sort((x, y) => x.lo - y.lo)
    const left = lv.count - shown.length
    if (left === 1) {
      const alone = lv.skipped > 0 ? lv.lastSkipped! : lv.kids[lv.next]!
      const before = shown.findIndex((x) => x.lo > alone.lo)
      shown.splice(before < 0 ? shown.length : before, 0, alone)
    }
    for (const c of shown) queue.push({ b: c, rest: undefined, into })
    if (left >= 2) queue.push({ b: undefined, rest: restOf(b, shown), into })
  }
  const restOf = (b: Span, shown: readonly Span[]): TopicTreeNode => {
    folded = true
    const lv = b.level!
    // its counts are what the shown children leave; its last_seen needs the topics between them
    let last = -Infinity
    let i = b.own < 0 ? b.lo : b.lo + 1
    for (const c of shown) {
      for (; i < c.lo; i++) last = Math.max(last, table.lastSeen[rows[i]!]!)
      i = c.hi
    }
    for (; i < b.hi; i++) last = Math.max(last, table.lastSeen[rows[i]!]!)
    const own = ownCounts(p, b)
    const name = b.depth === 0 && lv.shown.length === 0 ? '#' : '+'
    return {
      name,
      path: b.depth === 0 ? name : `${keys[b.lo]!.slice(0, b.nameEnd)}/+`,
      topics: b.topics - own.topics - lv.shownTopics,
      messages: b.messages - own.messages - lv.shownMessages,
      retained: b.retained - own.retained - lv.shownRetained,
      last_seen: isoOrNull(last),
      folded: true,
    }
  }
  if (top.level !== undefined) enqueueChildren(top, tree)
  for (let head = 0; head < queue.length; head++) {
    const { b, rest, into } = queue[head]!
    if (b === undefined) {
      into.push(rest!)
      continue
    }
    const key = keys[b.lo]!
    const node: TopicTreeNode = {
      name: key.slice(b.nameStart, b.nameEnd),
      path: key.slice(0, b.nameEnd),
      topics: b.topics,
      messages: b.messages,
      retained: b.retained,
      last_seen: isoOrNull(b.lastSeen),
    }
    if (b.own >= 0) {
      node.kind = table.kindOf(b.own)
      const sample = table.sampleOf(b.own)
      const extra = SAMPLE_KEY + jsonStringLength(sample)
      if (b.sample) node.sample = sample
      else if (samples && total + extra <= target) {
        total += extra
        node.sample = sample
      }
    }
    into.push(node)
    if (b.level !== undefined && b.level.shown.length > 0) {
      const children: TopicTreeNode[] = []
      node.children = children
      enqueueChildren(b, children)
    } else if (hasChildren(b)) {
      node.folded = true
      if (b.depth < p.maxDepth) folded = true
    }
  }
  return { topic_count: t.topics, message_count: t.messages, retained_count: t.retained, truncated, folded, tree }
}

/** A binary heap; `before(a, b)` says a comes out first. */
class Heap<T> {
  private readonly items: T[] = []

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(x: T): void {
    const a = this.items
    a.push(x)
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1
      if (!this.before(a[i]!, a[up]!)) break
      ;[a[i], a[up]] = [a[up]!, a[i]!]
      i = up
    }
  }

  pop(): T | undefined {
    const a = this.items
    const first = a[0]
    const last = a.pop()
    if (a.length === 0 || last === undefined) return first
    a[0] = last
    for (let i = 0; ; ) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < a.length && this.before(a[l]!, a[m]!)) m = l
      if (r < a.length && this.before(a[r]!, a[m]!)) m = r
      if (m === i) break
      ;[a[i], a[m]] = [a[m]!, a[i]!]
      i = m
    }
    return first
  }

  /** Empties the heap, in the order things come out. */
  drain(): T[] {
    const out: T[] = []
    for (let x = this.pop(); x !== undefined; x = this.pop()) out.push(x)
    return out
  }
}

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

/** Length of `JSON.stringify(s)`, without building it. */
const jsonStringLength = (s: string): number => escapedLength(s, 0, s.length) + 2

/** Length of `s` from `from` to `to` escaped for JSON, without quotes (ES2019 well-formed: lone surrogates become \uXXXX). */
function escapedLength(s: string, from: number, to: number): number {
  let n = to - from
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20) n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 1 : 5
    else if (c === 0x22 || c === 0x5c) n += 1
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < to ? s.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++
      else n += 5
    }
  }
  return n
}
