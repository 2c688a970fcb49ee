/**
 * The topic index of discovery: `indexStep` folds each message of a discovery window into a per-topic record of
 * counts, last seen, payload kind and a short sample, bounded by `maxTopics`. No RxJS and no clock here: the window
 * lifts `indexStep` with `scan`/`reduce`, and `renderTree` (topic-tree.ts) turns the index into what a tool shows.
 *
 *   messages  ──indexStep──▶  TopicIndex (TopicTable topic → TopicStats)
 *
 * Why it is shaped so: a discovery window may see 100,000 topics and many more messages, and the index lives
 * through the window. So it is updated in place (one window, one index), and the table is stored by column in
 * typed arrays with samples as UTF-8 bytes in shared chunks, compacted when replaced samples outweigh live ones:
 * about 190 bytes a topic with 80-character samples, whatever the payloads, no object per topic for the GC to
 * scan, and a text or JSON message on a known topic allocates nothing. The stats of one topic are handed out as a
 * view (`TopicTable.get`) that reads and writes the columns, for callers that want a plain record.
 */
import { isUtf8 } from 'node:buffer'
import { compactJsonPrefix, jsonKindOf, utf8PrefixEnd } from '../mqtt/json-scan.js'
import { headKind, mayBeJson, type PayloadKind } from '../mqtt/payload.js'
import type { Message, PayloadCut } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Limits of a topic index: `maxTopics` 1..100000 distinct topics, samples of `sampleChars` UTF-16 units (default 80). */
export interface TopicIndexOptions {
  readonly maxTopics: number
  readonly sampleChars?: number
}

/** What the index keeps for one topic. From `TopicTable.get`, a view: setting a field updates the index. */
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
 * The state of topic discovery: topic → stats, owned by the reducer and updated in place (one window, one index),
 * so a message costs a map lookup and a payload peek, not a copy.
 */
export interface TopicIndex {
  readonly maxTopics: number
  readonly sampleChars: number
  readonly topics: TopicTable
  /** True when a topic was turned away because `maxTopics` topics were already indexed. */
  truncated: boolean
  /** Messages (live or retained) on topics that were turned away. */
  unindexedMessages: number
}

const KINDS: readonly PayloadKind[] = ['empty', 'text', 'json', 'number', 'binary']
const KIND_CODE: Readonly<Record<PayloadKind, number>> = { empty: 0, text: 1, json: 2, number: 3, binary: 4 }
const RETAINED = 1
/** Sample bytes are kept in chunks of this many bytes (a sample never spans two). */
const CHUNK = 1 << 16

/**
 * The topics of an index and what it knows of each, as a read-only map of topic → stats views. Stored by
 * column, one row a topic in arrival order: a map entry, 29 bytes of typed arrays and the sample's UTF-8 bytes
 * in shared chunks, so that 100,000 topics make no object each and the heap stays small and quick to scan;
 * samples become strings only when they are shown.
 */
export class TopicTable implements Iterable<[string, TopicStats]> {
  private readonly rows = new Map<string, number>()
  // Sized for maxTopics at once: growing them would leave the old arrays as garbage, and pages of a large
  // zeroed allocation that no row has touched yet take no memory.
  readonly messages: Float64Array
  readonly lastSeen: Float64Array
  readonly sizeBytes: Uint32Array
  /** RETAINED, and the kind's code shifted left by one. */
  private readonly flags: Uint8Array
  /** Where each row's sample is: chunk, offset in it, and length in bytes. */
  private readonly sampleChunk: Uint16Array
  private readonly sampleAt: Uint16Array
  private readonly sampleLength: Uint32Array
  private chunks: Buffer[] = []
  /** Bytes used in the last chunk. */
  private top = CHUNK
  /** Bytes in the chunks that no sample uses any more; compacted away once they outweigh the rest. */
  private garbage = 0
  private used = 0

  constructor(readonly maxRows: number) {
    this.messages = new Float64Array(maxRows)
    this.lastSeen = new Float64Array(maxRows)
    this.sizeBytes = new Uint32Array(maxRows)
    this.flags = new Uint8Array(maxRows)
    this.sampleChunk = new Uint16Array(maxRows)
    this.sampleAt = new Uint16Array(maxRows)
    this.sampleLength = new Uint32Array(maxRows)
  }

  /** Topics in the table. */
  get size(): number {
    return this.rows.size
  }

  /** The row of a topic, or undefined. */
  rowOf(topic: string): number | undefined {
    return this.rows.get(topic)
  }

  /** Adds a topic with empty stats seen at `at` (ms), returns its row; the caller keeps within maxRows. */
  add(topic: string, at: number): number {
    const row = this.rows.size
    if (row >= this.maxRows) throw new RangeError(`a topic table holds at most ${this.maxRows} topics`)
    this.rows.set(topic, row)
    this.messages[row] = 0
    this.lastSeen[row] = at
    this.sizeBytes[row] = 0
    this.flags[row] = 0
    this.sampleLength[row] = 0
    return row
  }

  /** Whether a retained message was seen on the topic of `row`. */
  isRetained(row: number): boolean {
    return (this.flags[row]! & RETAINED) !== 0
  }

  /** Marks the topic of `row` as retained or not. */
  setRetained(row: number, retained: boolean): void {
    this.flags[row] = retained ? this.flags[row]! | RETAINED : this.flags[row]! & ~RETAINED
  }

  /** Kind of the last payload on the topic of `row`. */
  kindOf(row: number): PayloadKind {
    return KINDS[this.flags[row]! >> 1]!
  }

  /** Sets the kind of the last payload on the topic of `row`. */
  setKind(row: number, kind: PayloadKind): void {
    this.flags[row] = (KIND_CODE[kind] << 1) | (this.flags[row]! & RETAINED)
  }

  /** The sample of `row`, decoded now (a new string each call). */
  sampleOf(row: number): string {
    const n = this.sampleLength[row]!
    if (n === 0) return ''
    const at = this.sampleAt[row]!
    return this.chunks[this.sampleChunk[row]!]!.toString('utf8', at, at + n)
  }

  /** Sets the sample of `row` (stored as UTF-8, at most its UTF-8 length in bytes). */
  setSample(row: number, sample: string): void {
    this.commitSample(row, this.scratch(Buffer.byteLength(sample)).write(sample, this.top))
  }

  /** Where `scratch` lets the next sample be written. */
  get scratchAt(): number {
    return this.top
  }

  /** Room for `max` sample bytes at `scratchAt` of the last chunk (a new chunk when they do not fit). */
  scratch(max: number): Buffer {
    // samples start below CHUNK, so that offsets fit 16 bits; a longer one gets a chunk of its own
    const last = this.chunks[this.chunks.length - 1]
    if (last === undefined || this.top + max > CHUNK) {
      if (last !== undefined) this.garbage += last.length - this.top
      this.chunks.push(Buffer.allocUnsafeSlow(Math.max(CHUNK, max)))
      this.top = 0
    }
    return this.chunks[this.chunks.length - 1]!
  }

  /** Makes the `n` bytes just written at `scratchAt` the sample of `row`. */
  commitSample(row: number, n: number): void {
    const old = this.sampleLength[row]!
    const last = this.chunks.length - 1
    this.sampleLength[row] = n
    if (n > 0 && old >= n) {
      // a new sample no longer than the old one takes its place: steady traffic does not grow the chunks
      const at = this.sampleAt[row]!
      this.chunks[last]!.copy(this.chunks[this.sampleChunk[row]!]!, at, this.top, this.top + n)
      this.garbage += old - n
      this.used -= old - n
      return
    }
    this.garbage += old
    this.used += n - old
    if (n === 0) return
    this.sampleChunk[row] = last
    this.sampleAt[row] = this.top
    this.top += n
    if (this.garbage > CHUNK && this.garbage > this.used) this.compact()
  }

  /** Copies the samples in use into new chunks, dropping the garbage. */
  private compact(): void {
    const chunks = this.chunks
    this.chunks = []
    this.top = CHUNK
    this.garbage = 0
    for (let row = 0; row < this.rows.size; row++) {
      const n = this.sampleLength[row]!
      if (n === 0) continue
      const at = this.sampleAt[row]!
      chunks[this.sampleChunk[row]!]!.copy(this.scratch(n), this.top, at, at + n)
      this.sampleChunk[row] = this.chunks.length - 1
      this.sampleAt[row] = this.top
      this.top += n
    }
  }

  // the read-only Map interface, with views as values

  /** The stats of a topic, as a view that reads and writes the table. */
  get(topic: string): TopicStats | undefined {
    const row = this.rows.get(topic)
    return row === undefined ? undefined : new TopicRow(this, row)
  }

  /** Whether the topic is indexed. */
  has(topic: string): boolean {
    return this.rows.has(topic)
  }

  /** The topics, in arrival order. */
  keys(): IterableIterator<string> {
    return this.rows.keys()
  }

  /** Views of every topic's stats, in arrival order. */
  *values(): IterableIterator<TopicStats> {
    for (const row of this.rows.values()) yield new TopicRow(this, row)
  }

  /** Topics with views of their stats, in arrival order. */
  *entries(): IterableIterator<[string, TopicStats]> {
    for (const [topic, row] of this.rows) yield [topic, new TopicRow(this, row)]
  }

  [Symbol.iterator](): IterableIterator<[string, TopicStats]> {
    return this.entries()
  }
}

/** One row of a TopicTable as TopicStats, read and written in place. */
class TopicRow implements TopicStats {
  constructor(
    private readonly table: TopicTable,
    private readonly row: number,
  ) {}

  get messages(): number {
    return this.table.messages[this.row]!
  }

  set messages(n: number) {
    this.table.messages[this.row] = n
  }

  get retained(): boolean {
    return this.table.isRetained(this.row)
  }

  set retained(r: boolean) {
    this.table.setRetained(this.row, r)
  }

  get lastSeen(): number {
    return this.table.lastSeen[this.row]!
  }

  set lastSeen(ms: number) {
    this.table.lastSeen[this.row] = ms
  }

  get kind(): PayloadKind {
    return this.table.kindOf(this.row)
  }

  set kind(k: PayloadKind) {
    this.table.setKind(this.row, k)
  }

  get sample(): string {
    return this.table.sampleOf(this.row)
  }

  set sample(s: string) {
    this.table.setSample(this.row, s)
  }

  get sizeBytes(): number {
    return this.table.sizeBytes[this.row]!
  }

  set sizeBytes(n: number) {
    this.table.sizeBytes[this.row] = n
  }
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
  return { maxTopics: opts.maxTopics, sampleChars, topics: new TopicTable(opts.maxTopics), truncated: false, unindexedMessages: 0 }
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** Folds one message into the index (in place) and returns it: the `scan` step of topic discovery. */
export function indexStep(index: TopicIndex, m: Message): TopicIndex {
  const table = index.topics
  let row = table.rowOf(m.topic)
  if (row === undefined) {
    if (table.size >= index.maxTopics) {
      index.truncated = true
      index.unindexedMessages++
      return index
    }
    row = table.add(m.topic, m.receivedAt)
  }
  // A broker sets the retain flag only on messages it replays for a new subscription (MQTT 3.1.1 §3.3.1.3;
  // we never ask for retain-as-published), so a flagged message is stored state, not traffic.
  if (m.retain) table.setRetained(row, true)
  else table.messages[row]!++
  if (m.receivedAt > table.lastSeen[row]!) table.lastSeen[row] = m.receivedAt
  describeInto(table, row, m.payload, index.sampleChars, m.cut)
  return index
}

/**
 * Sets size, kind and sample from a payload. The sample is written as bytes straight into the table's chunks:
 * nothing is decoded, and a text or JSON message on a known topic allocates nothing. Kinds are those of `classifyPayload`,
 * except that bytes that are not UTF-8 are always binary. A kept head (`cut`) is described as its whole payload.
 */
function describeInto(table: TopicTable, row: number, buf: Buffer, maxUnits: number, cut: PayloadCut | undefined): void {
  const size = cut?.sizeBytes ?? buf.length
  table.sizeBytes[row] = size
  if (size === 0) {
    table.setKind(row, 'empty')
    table.commitSample(row, 0)
    return
  }
  if (cut !== undefined ? !cut.utf8 : !isUtf8(buf)) {
    table.setKind(row, 'binary')
    table.setSample(row, `<binary ${size} bytes>`)
    return
  }
  // the byte check first: it turns plain text away in a few ns
  const kind = cut !== undefined ? (headKind(buf) === 'json' ? 'json' : undefined) : mayBeJson(buf) ? jsonKindOf(buf) : undefined
  table.setKind(row, kind ?? 'text')
  if (maxUnits === 0) {
    table.commitSample(row, 0)
    return
  }
  // a UTF-16 unit takes at most 3 bytes of UTF-8 (an astral character 4 for 2 units)
  const into = table.scratch(Math.min(buf.length, maxUnits * 3))
  const at = table.scratchAt
  table.commitSample(row, kind !== undefined ? compactJsonPrefix(buf, maxUnits, into, at) : buf.copy(into, at, 0, utf8PrefixEnd(buf, maxUnits)))
}
