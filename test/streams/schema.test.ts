import test from 'ava'
import { Ajv2020 } from 'ajv/dist/2020.js'
import fc from 'fast-check'
import {
  confidenceOf,
  initialSchema,
  schemaResult,
  schemaStateSize,
  schemaStep,
  SCHEMA_DIALECT,
  type JsonSchema,
  type SchemaOptions,
  type SchemaResult,
} from '../../src/streams/schema.js'
import type { Message } from '../../src/streams/types.js'

const T0 = Date.UTC(2025, 0, 1)

const msg = (topic: string, payload: string | Buffer | object | number | boolean | null): Message => ({
  topic,
  payload: Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8'),
  qos: 0,
  retain: false,
  receivedAt: T0,
})

/** Infers over `payloads`, all on topic `t` unless given as [topic, payload] pairs. */
function infer(payloads: ReadonlyArray<Parameters<typeof msg>[1]>, opts: SchemaOptions = {}, minSamples = 1): SchemaResult {
  const state = initialSchema(opts)
  for (const p of payloads) schemaStep(state, msg('t', p))
  return schemaResult(state, { minSamples })
}

function inferTopics(pairs: ReadonlyArray<readonly [string, Parameters<typeof msg>[1]]>, opts: SchemaOptions = {}): SchemaResult {
  const state = initialSchema(opts)
  for (const [topic, p] of pairs) schemaStep(state, msg(topic, p))
  return schemaResult(state, { minSamples: 1 })
}

/** The schema at a path of property names ('[]' steps into items). */
function at(schema: JsonSchema | null, ...path: string[]): JsonSchema {
  let s = schema as JsonSchema
  for (const key of path) s = (key === '[]' ? s['items'] : (s['properties'] as Record<string, JsonSchema>)[key]) as JsonSchema
  if (s === undefined) throw new Error(`no schema at ${path.join('.')}`)
  return s
}

// annotations of our own: declared so strict ajv rejects any other unknown keyword. ownProperties: by default
// ajv reads `data.toString` for a property named toString and finds Object.prototype's function
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true, ownProperties: true })
ajv.addVocabulary(['x-presence', 'x-mean', 'x-more-properties', 'x-more-items', 'x-depth-limited'])

test('schemaStep counts every format: json, number, boolean, text, xml, binary and empty', (t) => {
  const r = infer([
    { a: 1 },
    '[1,2]',
    '"a json string"',
    'null',
    '21.5',
    ' +5 ',
    '42',
    'true',
    'FALSE',
    'hello world',
    'no',
    '<temp unit="C">21</temp>',
    ' <?xml version="1.0"?><a/>\n',
    Buffer.from([0xff, 0xfe, 0x00]),
    Buffer.from([0x08, 0x96, 0x01]),
    Buffer.from([0x08, 0x01, 0x10, 0x02]), // valid UTF-8, but control bytes: a small protobuf
    '',
  ])
  t.deepEqual(r.formats, { json: 4, number: 3, boolean: 2, text: 2, xml: 2, binary: 3, empty: 1 })
  t.is(r.samples, 17)
})

test('schemaResult describes nested objects with $schema at the root only', (t) => {
  const r = infer([{ device: { id: 'a1', sensor: { temp: 21.5, ok: true } } }, { device: { id: 'a2', sensor: { temp: 22, ok: false } } }])
  const s = r.schema!
  t.is(s['$schema'], SCHEMA_DIALECT)
  t.is(s['type'], 'object')
  t.deepEqual(s['required'], ['device'])
  t.is(at(s, 'device')['$schema'], undefined)
  t.deepEqual(at(s, 'device')['required'], ['id', 'sensor'])
  t.like(at(s, 'device', 'sensor', 'temp'), { type: 'number', minimum: 21.5, maximum: 22, 'x-presence': 1 })
  t.is(at(s, 'device', 'sensor', 'ok')['type'], 'boolean')
})

test('schemaResult merges the items of arrays of objects, with item counts and presence among the items', (t) => {
  const r = infer([{ readings: [{ ts: 1, v: 2.5 }, { ts: 2 }] }, { readings: [{ ts: 3, v: 1 }, { ts: 4, v: 3 }, { ts: 5, v: 2 }] }, { readings: [] }])
  const readings = at(r.schema, 'readings')
  t.like(readings, { type: 'array', minItems: 0, maxItems: 3 })
  const item = at(r.schema, 'readings', '[]')
  t.is(item['type'], 'object')
  t.deepEqual(item['required'], ['ts'])
  t.like(at(r.schema, 'readings', '[]', 'v'), { type: 'number', minimum: 1, maximum: 3, 'x-presence': 0.8 })
  t.like(at(r.schema, 'readings', '[]', 'ts'), { type: 'integer', minimum: 1, maximum: 5, 'x-mean': 3 })
})

test('a field missing from some samples is optional with its presence ratio; one in every sample is required', (t) => {
  const r = infer([{ temp: 20, battery: 90 }, { temp: 21, battery: 89 }, { temp: 22 }, { temp: 23, battery: 88 }])
  t.deepEqual(r.schema!['required'], ['temp'])
  t.is(at(r.schema, 'temp')['x-presence'], 1)
  t.is(at(r.schema, 'battery')['x-presence'], 0.75)
})

test('presence is never rounded up to 1 for a field that was missing once', (t) => {
  const payloads: object[] = Array.from({ length: 5000 }, () => ({ a: 1 }))
  payloads.push({})
  const r = infer(payloads)
  t.is(at(r.schema, 'a')['x-presence'], 0.999)
  t.is(r.schema!['required'], undefined)
})

test('types that vary become a union, null included', (t) => {
  const r = infer([{ v: 1 }, { v: 'high' }, { v: null }, { v: 2 }])
  t.deepEqual(at(r.schema, 'v')['type'], ['string', 'integer', 'null'])
  const mixed = infer([{ v: 1.5 }, { v: 'x' }])
  t.deepEqual(at(mixed.schema, 'v')['type'], ['string', 'number'])
  const root = infer([{ a: 1 }, [1], 3])
  t.deepEqual(root.schema!['type'], ['object', 'array', 'integer'])
})

test('integer only when every value was whole; number as soon as one was not', (t) => {
  t.is(at(infer([{ n: 1 }, { n: 2 }, { n: -3 }, { n: 4.0 }]).schema, 'n')['type'], 'integer')
  t.is(at(infer([{ n: 1 }, { n: 2.5 }, { n: 3 }]).schema, 'n')['type'], 'number')
})

test('numeric fields get minimum, maximum and a mean; plain numeric payloads too', (t) => {
  t.like(at(infer([{ t: 20 }, { t: 22 }, { t: 24 }, { t: 18.5 }]).schema, 't'), { minimum: 18.5, maximum: 24, 'x-mean': 21.125 })
  const plain = infer(['21.5', '22.5', '23.5'])
  t.like(plain.schema, { type: 'number', minimum: 21.5, maximum: 23.5, 'x-mean': 22.5 })
  t.deepEqual(plain.formats, { number: 3 })
})

test('strings with few distinct values, each seen about twice, are enum candidates, most frequent first', (t) => {
  const r = infer([{ s: 'ON' }, { s: 'OFF' }, { s: 'ON' }, { s: 'ON' }, { s: 'OFF' }, { s: 'ON' }])
  t.deepEqual(at(r.schema, 's')['enum'], ['ON', 'OFF'])
  const withNull = infer([{ s: 'ON' }, { s: 'OFF' }, { s: null }, { s: 'ON' }, { s: 'OFF' }])
  t.deepEqual(at(withNull.schema, 's')['enum'], ['OFF', 'ON', null])
})

test('free strings, too few repeats, too many values, long strings or other types beside them give no enum', (t) => {
  const ids = infer(Array.from({ length: 30 }, (_, i) => ({ id: `dev-${i}` })))
  t.is(at(ids.schema, 'id')['enum'], undefined)
  t.is(at(ids.schema, 'id')['type'], 'string')
  // 3 distinct in 5 samples: not yet seen twice each
  t.is(at(infer([{ s: 'a' }, { s: 'b' }, { s: 'c' }, { s: 'a' }, { s: 'b' }]).schema, 's')['enum'], undefined)
  // 11 distinct values, each many times, are over maxEnum (10)
  const many = infer(Array.from({ length: 110 }, (_, i) => ({ s: `v${i % 11}` })))
  t.is(at(many.schema, 's')['enum'], undefined)
  t.deepEqual(at(infer(Array.from({ length: 40 }, (_, i) => ({ s: `v${i % 4}` })), { maxEnum: 4 }).schema, 's')['enum'], ['v0', 'v1', 'v2', 'v3'])
  const long = 'x'.repeat(65)
  t.is(at(infer([{ s: long }, { s: long }, { s: long }]).schema, 's')['enum'], undefined)
  t.is(at(infer([{ s: 'a' }, { s: 1 }, { s: 'a' }, { s: 'a' }]).schema, 's')['enum'], undefined)
})

test('examples are the first distinct values, at most maxExamples, and can be left out', (t) => {
  const payloads = [{ s: 'a', n: 1 }, { s: 'a', n: 2 }, { s: 'b', n: 2 }, { s: 'c', n: 3 }, { s: 'd', n: 4 }]
  const r = infer(payloads)
  t.deepEqual(at(r.schema, 's')['examples'], ['a', 'b', 'c'])
  t.deepEqual(at(r.schema, 'n')['examples'], [1, 2, 3])
  t.deepEqual(at(infer(payloads, { maxExamples: 1 }).schema, 's')['examples'], ['a'])
  const state = initialSchema()
  for (const p of payloads) schemaStep(state, msg('t', p))
  t.false(JSON.stringify(schemaResult(state, { minSamples: 1, examples: false })).includes('examples'))
})

test('no schema when no payload has a value; values of other payloads still make one', (t) => {
  t.is(infer(['hello', '<a/>', '', Buffer.from([0xff])]).schema, null)
  const some = infer(['hello', { a: 1 }])
  t.deepEqual(some.formats, { json: 1, text: 1 })
  t.deepEqual(some.schema!['required'], ['a'])
})

test('topics of different shapes get per-topic schemas, most samples first', (t) => {
  const r = inferTopics([
    ['z/plug', { power: 85, state: 'ON' }],
    ['z/temp', { temperature: 21.5, humidity: 40 }],
    ['z/plug', { power: 86, state: 'ON' }],
    ['z/avail', 'online'],
  ])
  t.true(r.shapes_differ)
  t.is(r.topic_count, 3)
  t.deepEqual(
    r.per_topic.map((p) => [p.topic, p.samples]),
    [['z/plug', 2], ['z/avail', 1], ['z/temp', 1]],
  )
  t.deepEqual(r.per_topic[0]!.schema!['required'], ['power', 'state'])
  t.is(r.per_topic[1]!.schema, null)
  t.deepEqual(r.per_topic[1]!.formats, { text: 1 })
  // the overall schema merges them: no field is in every sample
  t.is(r.schema!['required'], undefined)
  t.is(at(r.schema, 'power')['x-presence'], 0.667, 'in 2 of the 3 objects')
})

test('topics of the same shape get no per-topic schemas, even when their optional fields show up unevenly', (t) => {
  const r = inferTopics([
    ['room/a', { t: 20, h: 40 }],
    ['room/b', { t: 19, h: 41 }],
    ['room/b', { t: 19 }],
  ])
  t.false(r.shapes_differ)
  t.deepEqual(r.per_topic, [])
  t.is(r.topic_count, 2)
  const numbers = inferTopics([
    ['n/a', 21],
    ['n/b', 22.5],
    ['n/c', '18'],
  ])
  t.false(numbers.shapes_differ, 'integer and number are one shape')
})

test('beyond maxTopics, topics count in the overall schema only and the cut is reported', (t) => {
  const r = inferTopics(
    Array.from({ length: 10 }, (_, i) => [`t/${i}`, i % 2 === 0 ? { a: i } : { b: i }] as const),
    { maxTopics: 4 },
  )
  t.is(r.topic_count, 4)
  t.true(r.topics_cut)
  t.is(r.untracked_messages, 6)
  t.is(r.samples, 10)
  t.is(r.per_topic.length, 4)
  t.like(at(r.schema, 'a'), { minimum: 0, maximum: 8 })
})

test('maxDepth, maxProperties and maxNodes leave contents undescribed and say so', (t) => {
  let deep: unknown = 1
  for (let i = 0; i < 12; i++) deep = { next: deep }
  const r = infer([deep as object], { maxDepth: 3 })
  const third = at(r.schema, 'next', 'next', 'next')
  t.is(third['type'], 'object')
  t.is(third['properties'], undefined)
  t.true(third['x-depth-limited'])

  const wide = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, i]))
  const w = infer([wide], { maxProperties: 100 })
  t.is(Object.keys(w.schema!['properties'] as object).length, 100)
  t.true(w.schema!['x-more-properties'])

  const n = infer([{ a: 1, b: { c: 1, d: 2 }, e: [1] }], { maxNodes: 3 })
  t.deepEqual(Object.keys(n.schema!['properties'] as object), ['a', 'b'])
  t.true(n.schema!['x-more-properties'])
  t.true(at(n.schema, 'b')['x-more-properties'])

  const state = initialSchema()
  schemaStep(state, msg('t', { a: { b: { c: 1 } } }))
  const shallow = schemaResult(state, { minSamples: 1, depth: 1 })
  t.true(at(shallow.schema, 'a')['x-depth-limited'])
  t.is(at(shallow.schema, 'a')['properties'], undefined)
})

test('a "__proto__" key is described as a field, not taken for a prototype', (t) => {
  const r = infer(['{"__proto__":{"x":1},"a":2}', '{"__proto__":{"x":2},"a":3}'])
  const props = r.schema!['properties'] as Record<string, JsonSchema>
  t.true(Object.hasOwn(props, '__proto__'))
  t.deepEqual(r.schema!['required'], ['__proto__', 'a'])
  t.true(JSON.stringify(r.schema).includes('"__proto__":{"type":"object"'))
})

test('confidence is low below minSamples, medium below 5×, high from there; score grows towards 1', (t) => {
  t.deepEqual(confidenceOf(0, 10), { confidence: 'low', score: 0 })
  t.is(confidenceOf(9, 10).confidence, 'low')
  t.deepEqual(confidenceOf(10, 10), { confidence: 'medium', score: 0.5 })
  t.is(confidenceOf(49, 10).confidence, 'medium')
  t.is(confidenceOf(50, 10).confidence, 'high')
  let last = -1
  for (const n of [0, 1, 5, 10, 50, 100, 1000]) {
    const { score } = confidenceOf(n, 10)
    t.true(score > last && score <= 1, `score at ${n}`)
    last = score
  }
  t.is(infer([{ a: 1 }, { a: 2 }], {}, 3).confidence, 'low')
  t.throws(() => schemaResult(initialSchema(), { minSamples: 0 }), { instanceOf: RangeError })
})

test('initialSchema refuses limits that are not integers in range', (t) => {
  t.throws(() => initialSchema({ maxEnum: 0 }), { instanceOf: RangeError })
  t.throws(() => initialSchema({ maxProperties: 1.5 }), { instanceOf: RangeError })
  t.throws(() => initialSchema({ maxTopics: -1 }), { instanceOf: RangeError })
  t.notThrows(() => initialSchema({ maxDepth: 0, maxExamples: 0 }))
})

test('the state stays bounded over 200,000 messages of unique strings, keys and topics', (t) => {
  const state = initialSchema({ maxTopics: 50, maxNodes: 1000 })
  const sizes: Array<ReturnType<typeof schemaStateSize>> = []
  for (let i = 0; i < 200_000; i++) {
    schemaStep(state, msg(`dev/${i % 500}`, `{"id":"device-${i}","state":"${i % 3 === 0 ? 'ON' : 'OFF'}","k${i}":${i}}`))
    if (i === 100_000 || i === 199_999) sizes.push(schemaStateSize(state))
  }
  const [early, late] = sizes as [ReturnType<typeof schemaStateSize>, ReturnType<typeof schemaStateSize>]
  t.is(late.trees, 51)
  t.true(late.nodes <= 51 * 1000)
  t.deepEqual(late, early, 'nothing grows once the limits are reached')
  const r = schemaResult(state, { minSamples: 10 })
  t.is(r.samples, 200_000)
  t.is(r.untracked_messages, 200_000 - (200_000 / 500) * 50)
  t.is(at(r.schema, 'id')['enum'], undefined, 'enum tracking stopped')
  t.deepEqual(at(r.schema, 'id')['examples'], ['device-0', 'device-1', 'device-2'])
  t.deepEqual(at(r.schema, 'state')['enum'], ['OFF', 'ON'])
  t.true(r.schema!['x-more-properties'])
  t.is(r.confidence, 'high')
})

// a few fixed keys with small domains (enums, optional fields, unions) beside fully random JSON
const device = fc.record(
  {
    state: fc.constantFrom('ON', 'OFF', 'UNKNOWN', null),
    temp: fc.oneof(fc.integer({ min: -40, max: 60 }), fc.double({ min: -40, max: 60, noNaN: true })),
    tags: fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 4 }),
    nested: fc.record({ level: fc.constantFrom(1, 2, 3), note: fc.string({ maxLength: 70 }) }, { requiredKeys: ['level'] }),
    any: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: ['temp'] },
)
const payloadValue = fc.oneof(fc.jsonValue({ maxDepth: 5 }), device)
const limits = fc.record({
  maxEnum: fc.integer({ min: 1, max: 12 }),
  maxExamples: fc.integer({ min: 0, max: 4 }),
  maxDepth: fc.integer({ min: 0, max: 6 }),
  maxProperties: fc.integer({ min: 1, max: 8 }),
  maxNodes: fc.integer({ min: 1, max: 60 }),
})

test('every sampled JSON value validates against the schema inferred from them (ajv, draft 2020-12)', (t) => {
  fc.assert(
    fc.property(fc.array(payloadValue, { minLength: 1, maxLength: 40 }), fc.option(limits, { nil: undefined }), fc.boolean(), (values, opts, split) => {
      const state = initialSchema(opts ?? {})
      const payloads = values.map((v) => JSON.stringify(v))
      payloads.forEach((p, i) => schemaStep(state, msg(split ? `t/${i % 3}` : 't', p)))
      const r = schemaResult(state, { minSamples: 5 })
      const validate = ajv.compile(r.schema!)
      for (const p of payloads) {
        if (!validate(JSON.parse(p))) throw new Error(`${p} does not validate: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(r.schema)}`)
      }
      for (const topic of r.per_topic) ajv.compile(topic.schema!)
    }),
    { numRuns: 300 },
  )
  t.pass()
})
