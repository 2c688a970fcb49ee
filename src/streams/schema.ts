/**
 * Payload schema inference as a pure, bounded reducer (TOOLS.md, mqtt_get_topic_schema). `schemaStep` folds
 * each message into a format count and, for values, into a tree of nodes (one per JSON path, array items
 * merged into one node) that keeps running statistics only; `schemaResult` renders JSON Schema 2020-12 from it.
 *
 *   message ─► format: empty · binary · json · number · boolean · xml · text
 *                │ json, number, boolean: the value
 *                ├──────────► overall tree                 every message
 *                └──────────► topic tree                   the first maxTopics topics only
 *
 *   schemaResult ─► overall schema + one schema per topic when the topics' top-level shapes differ
 *
 * Bounds, whatever the message count: ≤ maxTopics + 1 trees of ≤ maxNodes nodes, ≤ maxProperties properties
 * per object, ≤ maxDepth levels, and per node ≤ maxEnum + 1 strings of ≤ 64 characters and ≤ maxExamples
 * examples of ≤ 80 characters. Numeric statistics are running (count, min, max, mean). The state is mutated in
 * place: create it per window. No clock and no randomness: the same messages always give the same schema.
 */
import { mayBeJson, utf8OrUndefined } from '../mqtt/payload.js'
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** How a payload looks on the wire. */
export type PayloadFormat = 'json' | 'text' | 'number' | 'boolean' | 'xml' | 'binary' | 'empty'

/** Limits of the inference; every one bounds the state, none the message count. */
export interface SchemaOptions {
  /** Topics that get a schema of their own (default 50); later topics count in the overall schema only. */
  readonly maxTopics?: number
  /** Distinct example values kept per field (default 3). */
  readonly maxExamples?: number
  /** Distinct strings a field may have and still be an enum (default 10). */
  readonly maxEnum?: number
  /** Nesting levels described below the payload's root (default 8); deeper values are typed, not described. */
  readonly maxDepth?: number
  /** Properties tracked per object (default 100); later keys are left undescribed (`x-more-properties`). */
  readonly maxProperties?: number
  /** Nodes (described paths) per schema tree (default 1000). */
  readonly maxNodes?: number
}

/** The reducer's state: opaque; create it with `initialSchema`, advance it with `schemaStep`, read it with `schemaResult`. */
export interface SchemaState {
  readonly _tag: 'SchemaState'
}

/** A JSON Schema document or fragment. */
export type JsonSchema = { [key: string]: unknown }

/** How sure the description is: `low` below minSamples, `medium` below 5 × minSamples, `high` from there. */
export type Confidence = 'low' | 'medium' | 'high'

/** One topic's own description, given when topics differ in shape. */
export interface TopicSchema {
  readonly topic: string
  readonly samples: number
  /** Messages per format; formats not seen are left out. */
  readonly formats: Partial<Record<PayloadFormat, number>>
  /** JSON Schema of the topic's values, or null when none of its payloads had one. */
  readonly schema: JsonSchema | null
}

/** What `schemaResult` renders. */
export interface SchemaResult {
  readonly samples: number
  /** Messages per format; formats not seen are left out. */
  readonly formats: Partial<Record<PayloadFormat, number>>
  /** JSON Schema 2020-12 of every value (JSON payloads, numeric and true/false text), or null when there were none. */
  readonly schema: JsonSchema | null
  /** Distinct topics with a schema of their own (at most maxTopics). */
  readonly topic_count: number
  /** Topics differ in top-level shape (types, or key sets of objects). */
  readonly shapes_differ: boolean
  /** Per-topic schemas, most samples first; empty unless `shapes_differ`. */
  readonly per_topic: readonly TopicSchema[]
  /** maxTopics was reached: messages on later topics count in the overall schema only. */
  readonly topics_cut: boolean
  /** Messages on topics beyond maxTopics. */
  readonly untracked_messages: number
  readonly confidence: Confidence
  /** Grows with the sample count from 0 towards 1: n / (n + minSamples), so 0.5 at minSamples. */
  readonly score: number
}

/** How `schemaResult` renders: `minSamples` ≥ 1 sets the confidence; `examples` (true) and `depth` (all) shrink the output. */
export interface SchemaRenderOptions {
  readonly minSamples: number
  /** Include `examples` (default true); false to fit a smaller budget. */
  readonly examples?: boolean
  /** Describe at most this many levels below the root (default: all tracked); deeper values keep their type only. */
  readonly depth?: number
}

export const SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema'

const DEFAULTS = { maxTopics: 50, maxExamples: 3, maxEnum: 10, maxDepth: 8, maxProperties: 100, maxNodes: 1000 }
/** Longer strings are not categories (ids, messages, timestamps): they end enum tracking at once. */
const MAX_ENUM_CHARS = 64
/** Longer strings are not kept as examples: an example must be a real value, so it is never cut. */
const MAX_EXAMPLE_CHARS = 80
const FORMATS: readonly PayloadFormat[] = ['json', 'number', 'boolean', 'text', 'xml', 'binary', 'empty']
// a trimmed numeric text, broader than JSON: "+5", ".5", "5." and "007" are numbers on MQTT topics too
const NUMERIC_TEXT = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/

/** Everything known about the values at one JSON path; mutated in place. */
interface Node {
  /** Values seen here; for an object property, the objects that had the key. */
  count: number
  nulls: number
  booleans: number
  numbers: number
  strings: number
  objects: number
  arrays: number
  // numbers: running statistics
  min: number
  max: number
  mean: number
  fractional: boolean
  /** A number too large for a double (JSON 1e400) was seen: no finite bounds describe it. */
  unbounded: boolean
  /** Distinct strings and their counts while they could still be an enum (made on the first string). */
  distinct: Map<string, number> | undefined
  /** The strings here cannot be an enum: too many distinct or too long. */
  notEnum: boolean
  examples: Array<string | number>
  // objects
  props: Map<string, Node> | undefined
  /** Some keys are not tracked (maxProperties or the node budget). */
  moreProps: boolean
  // arrays
  items: Node | undefined
  minItems: number
  maxItems: number
  /** Non-empty arrays were seen but their items are not tracked (node budget). */
  moreItems: boolean
  /** Objects or arrays at maxDepth were seen: their contents are not described. */
  depthLimited: boolean
}

/** One description: the overall one or one topic's. */
interface Tree {
  samples: number
  readonly formats: Record<PayloadFormat, number>
  root: Node | undefined
  nodes: number
}

interface Limits {
  readonly maxTopics: number
  readonly maxExamples: number
  readonly maxEnum: number
  readonly maxDepth: number
  readonly maxProperties: number
  readonly maxNodes: number
}

interface State extends SchemaState, Limits {
  readonly overall: Tree
  readonly topics: Map<string, Tree>
  topicsCut: boolean
  untrackedMessages: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

function limit(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${v}`)
  return v
}

/** An empty state; throws RangeError on limits that are not positive integers (maxTopics, maxExamples and maxDepth may be 0). */
export function initialSchema(opts: SchemaOptions = {}): SchemaState {
  const state: State = {
    _tag: 'SchemaState',
    maxTopics: limit('maxTopics', opts.maxTopics, DEFAULTS.maxTopics, 0),
    maxExamples: limit('maxExamples', opts.maxExamples, DEFAULTS.maxExamples, 0),
    maxEnum: limit('maxEnum', opts.maxEnum, DEFAULTS.maxEnum, 1),
    maxDepth: limit('maxDepth', opts.maxDepth, DEFAULTS.maxDepth, 0),
    maxProperties: limit('maxProperties', opts.maxProperties, DEFAULTS.maxProperties, 1),
    maxNodes: limit('maxNodes', opts.maxNodes, DEFAULTS.maxNodes, 1),
    overall: newTree(),
    topics: new Map(),
    topicsCut: false,
    untrackedMessages: 0,
  }
  return state
}

function newTree(): Tree {
  return { samples: 0, formats: { json: 0, text: 0, number: 0, boolean: 0, xml: 0, binary: 0, empty: 0 }, root: undefined, nodes: 0 }
}

/** A fresh node, or undefined when the tree has spent its node budget. */
function newNode(tree: Tree, o: Limits): Node | undefined {
  if (tree.nodes >= o.maxNodes) return undefined
  tree.nodes++
  return {
    count: 0, nulls: 0, booleans: 0, numbers: 0, strings: 0, objects: 0, arrays: 0,
    min: Infinity, max: -Infinity, mean: 0, fractional: false, unbounded: false,
    distinct: undefined, notEnum: false, examples: [],
    props: undefined, moreProps: false,
    items: undefined, minItems: Infinity, maxItems: 0, moreItems: false,
    depthLimited: false,
  }
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** A payload's format and, for json / number / boolean, its value. */
export interface Classified {
  format: PayloadFormat
  hasValue: boolean
  value: unknown
}

/**
 * Classifies a payload. JSON is tried first, but only when the first byte could start it (a throwing
 * JSON.parse of text costs ~5 µs, the byte check a few ns); a JSON number or boolean is reported as that
 * format, so `21.5` and `true` count alike whether sent as JSON or as text. Text that is numeric, "true" or
 * "false" (any case: firmware spells it TRUE or True) contributes its value to the schema as well, so a
 * plain numeric topic gets a range; xml and other text do not.
 */
export function payloadFormat(buf: Buffer): Classified {
  if (buf.length === 0) return { format: 'empty', hasValue: false, value: undefined }
  const text = utf8OrUndefined(buf)
  if (text === undefined) return { format: 'binary', hasValue: false, value: undefined }
  if (mayBeJson(buf)) {
    try {
      const value: unknown = JSON.parse(text)
      const format = typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'json'
      return { format, hasValue: true, value }
    } catch {
      // not JSON after all: one of the text formats below
    }
  }
  if (hasControlBytes(buf)) return { format: 'binary', hasValue: false, value: undefined }
  const trimmed = text.trim()
  const lower = trimmed.length <= 5 ? trimmed.toLowerCase() : ''
  if (lower === 'true' || lower === 'false') return { format: 'boolean', hasValue: true, value: lower === 'true' }
  if (NUMERIC_TEXT.test(trimmed)) return { format: 'number', hasValue: true, value: Number(trimmed) }
  if (trimmed.startsWith('<') && trimmed.endsWith('>')) return { format: 'xml', hasValue: false, value: undefined }
  return { format: 'text', hasValue: false, value: undefined }
}

/**
 * C0 controls other than tab, LF and CR, or DEL: valid UTF-8 that no one means as text (a small protobuf or
 * a packed struct often is valid UTF-8). Scanned on the bytes: a control is never part of a multi-byte
 * character.
 */
function hasControlBytes(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) return true
  }
  return false
}

/** Folds one message into the state (in place) and returns it: the `scan` step of schema inference. */
export function schemaStep(state: SchemaState, m: Message): SchemaState {
  const s = state as State
  const c = payloadFormat(m.payload)
  addTo(s.overall, c, s)
  let topic = s.topics.get(m.topic)
  if (topic === undefined) {
    if (s.topics.size >= s.maxTopics) {
      s.topicsCut = true
      s.untrackedMessages++
      return s
    }
    topic = newTree()
    s.topics.set(m.topic, topic)
  }
  // the value is walked once per tree: merging trees afterwards could not recover enums ended in one of them
  addTo(topic, c, s)
  return s
}

function addTo(tree: Tree, c: Classified, o: Limits): void {
  tree.samples++
  tree.formats[c.format]++
  if (!c.hasValue) return
  tree.root ??= newNode(tree, o)
  if (tree.root !== undefined) addValue(tree, tree.root, c.value, 0, o)
}

function addValue(tree: Tree, node: Node, v: unknown, depth: number, o: Limits): void {
  node.count++
  if (v === null) {
    node.nulls++
    return
  }
  switch (typeof v) {
    case 'boolean':
      node.booleans++
      return
    case 'number':
      addNumber(node, v, o)
      return
    case 'string':
      addString(node, v, o)
      return
    case 'object':
      break
    default:
      return // JSON.parse makes nothing else
  }
  if (Array.isArray(v)) {
    node.arrays++
    if (v.length < node.minItems) node.minItems = v.length
    if (v.length > node.maxItems) node.maxItems = v.length
    if (v.length === 0) return
    if (depth >= o.maxDepth) {
      node.depthLimited = true
      return
    }
    node.items ??= newNode(tree, o)
    if (node.items === undefined) {
      node.moreItems = true
      return
    }
    for (const item of v) addValue(tree, node.items, item, depth + 1, o)
    return
  }
  node.objects++
  if (depth >= o.maxDepth) {
    node.depthLimited = true
    return
  }
  const obj = v as Record<string, unknown>
  const props = (node.props ??= new Map())
  // Object.keys, not for…in: payloads whose keys vary (ids as keys) give every object its own hidden class,
  // and for…in then misses V8's enum cache (10× slower here); both see an own "__proto__" key
  for (const key of Object.keys(obj)) {
    let child = props.get(key)
    if (child === undefined) {
      child = props.size < o.maxProperties ? newNode(tree, o) : undefined
      if (child === undefined) {
        node.moreProps = true
        continue
      }
      props.set(key, child)
    }
    addValue(tree, child, obj[key], depth + 1, o)
  }
}

function addNumber(node: Node, x: number, o: Limits): void {
  node.numbers++
  if (!Number.isInteger(x)) node.fractional = true
  if (!Number.isFinite(x)) {
    node.unbounded = true
    return
  }
  if (x < node.min) node.min = x
  if (x > node.max) node.max = x
  // a running mean in this form never overflows, where a sum of large doubles would
  node.mean = node.mean - node.mean / node.numbers + x / node.numbers
  if (node.examples.length < o.maxExamples && !node.examples.includes(x)) node.examples.push(x)
}

function addString(node: Node, v: string, o: Limits): void {
  node.strings++
  if (!node.notEnum) {
    const d = (node.distinct ??= new Map())
    const n = d.get(v)
    if (n !== undefined) d.set(v, n + 1)
    else if (d.size >= o.maxEnum || v.length > MAX_ENUM_CHARS) {
      // over the cap the set is dropped, not kept full: it could not become an enum again, and a stream
      // of unique ids must cost nothing more per message
      node.distinct = undefined
      node.notEnum = true
    } else d.set(v, 1)
  }
  if (node.examples.length < o.maxExamples && v.length <= MAX_EXAMPLE_CHARS && !node.examples.includes(v)) node.examples.push(v)
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** The confidence label and score of `samples` against `minSamples` (≥ 1). */
export function confidenceOf(samples: number, minSamples: number): { confidence: Confidence; score: number } {
  const confidence: Confidence = samples < minSamples ? 'low' : samples < 5 * minSamples ? 'medium' : 'high'
  // n / (n + min): 0 with no samples, 0.5 at min_samples, 0.83 at 5×, approaching 1; no cliff at the labels
  return { confidence, score: Math.round((samples / (samples + minSamples)) * 1000) / 1000 }
}

/**
 * Renders the state; does not change it, so it can run mid-window and again with smaller options to fit a
 * budget. Every keyword that validates (type, required, enum, minimum/maximum, minItems/maxItems) is derived
 * from all the values seen, so every one of them validates against the schema; the rest are annotations:
 * `examples`, `x-presence` (share of the parent's objects that had the key), `x-mean`, and the markers
 * `x-more-properties` / `x-more-items` / `x-depth-limited` where limits left contents undescribed.
 */
export function schemaResult(state: SchemaState, opts: SchemaRenderOptions): SchemaResult {
  const s = state as State
  if (!Number.isInteger(opts.minSamples) || opts.minSamples < 1) throw new RangeError(`minSamples must be a positive integer, got ${opts.minSamples}`)
  const r: Render = { examples: opts.examples ?? true, depth: opts.depth ?? Infinity }
  const shapes = new Set<string>()
  for (const tree of s.topics.values()) shapes.add(shapeOf(tree))
  // one shape among the topics: the overall schema says it all, and per-topic copies would only spend budget
  const differ = shapes.size > 1
  const perTopic = differ
    ? [...s.topics.entries()]
        .sort((a, b) => b[1].samples - a[1].samples || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .map(([topic, tree]) => ({ topic, samples: tree.samples, formats: formatsOf(tree), schema: treeSchema(tree, r) }))
    : []
  return {
    samples: s.overall.samples,
    formats: formatsOf(s.overall),
    schema: treeSchema(s.overall, r),
    topic_count: s.topics.size,
    shapes_differ: differ,
    per_topic: perTopic,
    topics_cut: s.topicsCut,
    untracked_messages: s.untrackedMessages,
    ...confidenceOf(s.overall.samples, opts.minSamples),
  }
}

/** What the state holds, for tests that prove it stays bounded. */
export function schemaStateSize(state: SchemaState): { trees: number; nodes: number; strings: number } {
  const s = state as State
  let nodes = 0
  let strings = 0
  const visit = (n: Node | undefined): void => {
    if (n === undefined) return
    nodes++
    strings += (n.distinct?.size ?? 0) + n.examples.length
    if (n.props !== undefined) for (const c of n.props.values()) visit(c)
    visit(n.items)
  }
  const trees = [s.overall, ...s.topics.values()]
  for (const t of trees) visit(t.root)
  return { trees: trees.length, nodes, strings }
}

interface Render {
  readonly examples: boolean
  readonly depth: number
}

function formatsOf(tree: Tree): Partial<Record<PayloadFormat, number>> {
  const out: Partial<Record<PayloadFormat, number>> = {}
  for (const f of FORMATS) if (tree.formats[f] > 0) out[f] = tree.formats[f]
  return out
}

function typesOf(n: Node): string[] {
  const types: string[] = []
  if (n.objects > 0) types.push('object')
  if (n.arrays > 0) types.push('array')
  if (n.strings > 0) types.push('string')
  if (n.numbers > 0) types.push(n.fractional ? 'number' : 'integer')
  if (n.booleans > 0) types.push('boolean')
  if (n.nulls > 0) types.push('null')
  return types
}

/** A topic's top-level shape: its value types (integer counts as number) and non-value formats, and its top-level keys. */
function shapeOf(tree: Tree): string {
  const types = new Set<string>()
  for (const f of ['text', 'xml', 'binary', 'empty'] as const) if (tree.formats[f] > 0) types.add(f)
  const root = tree.root
  if (root !== undefined) for (const type of typesOf(root)) types.add(type === 'integer' ? 'number' : type)
  const keys = root?.props === undefined ? [] : [...root.props.keys()].sort()
  return JSON.stringify([[...types].sort(), keys, root?.moreProps ?? false])
}

function treeSchema(tree: Tree, r: Render): JsonSchema | null {
  return tree.root === undefined ? null : { $schema: SCHEMA_DIALECT, ...nodeSchema(tree.root, 0, r) }
}

function nodeSchema(n: Node, depth: number, r: Render): JsonSchema {
  const types = typesOf(n)
  const out: JsonSchema = { type: types.length === 1 ? types[0] : types }
  const described = depth < r.depth
  let cut = n.depthLimited
  if (n.objects > 0) {
    const props = n.props
    if (props !== undefined && props.size > 0) {
      if (described) {
        // fromEntries defines own properties: a "__proto__" key stays a key instead of setting a prototype
        out['properties'] = Object.fromEntries(
          [...props].map(([key, c]) => [key, { ...nodeSchema(c, depth + 1, r), 'x-presence': ratio(c.count, n.objects) }]),
        )
        const required = [...props].filter(([, c]) => c.count === n.objects).map(([key]) => key)
        if (required.length > 0) out['required'] = required
      } else cut = true
    }
    if (n.moreProps) out['x-more-properties'] = true
  }
  if (n.arrays > 0) {
    out['minItems'] = n.minItems
    out['maxItems'] = n.maxItems
    if (n.items !== undefined) {
      if (described) out['items'] = nodeSchema(n.items, depth + 1, r)
      else cut = true
    }
    if (n.moreItems) out['x-more-items'] = true
  }
  if (cut) out['x-depth-limited'] = true
  if (n.numbers > 0 && !n.unbounded) {
    out['minimum'] = n.min
    out['maximum'] = n.max
    out['x-mean'] = Number(n.mean.toPrecision(8))
  }
  const values = enumOf(n)
  if (values !== undefined) out['enum'] = values
  if (r.examples && n.examples.length > 0) out['examples'] = [...n.examples]
  return out
}

/**
 * Enum candidates: few distinct strings, each seen about twice or more (samples ≥ 2 × distinct), so a field
 * that merely has not repeated yet is not called a category. `enum` constrains every type, so it is given
 * only when the other values are null (then null is listed); with numbers or objects beside the strings it
 * would reject them.
 */
function enumOf(n: Node): Array<string | null> | undefined {
  const d = n.distinct
  if (n.notEnum || d === undefined || d.size === 0) return undefined
  if (n.objects + n.arrays + n.numbers + n.booleans > 0 || n.strings < 2 * d.size) return undefined
  const values: Array<string | null> = [...d].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([v]) => v)
  if (n.nulls > 0) values.push(null)
  return values
}

function ratio(part: number, whole: number): number {
  // never rounded up to 1: a field missing once in 10,000 objects is not required, and must not look it
  return part === whole ? 1 : Math.min(0.999, Math.round((part / whole) * 1000) / 1000)
}
