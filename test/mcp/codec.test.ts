import test from 'ava'
import { Ajv, type ValidateFunction } from 'ajv'
import { Ajv2020 } from 'ajv/dist/2020.js'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import * as io from 'io-ts'
import type { AppError } from '../../src/errors.js'
import {
  described,
  int,
  type JsonSchema,
  looseObject,
  num,
  object,
  oneOf,
  Optional,
  optional,
  StrictObject,
  str,
  toJsonSchema,
} from '../../src/mcp/codec.js'
import { connectProps, tlsCodec } from '../../src/tools/connect-options.js'
import { tools } from '../../src/tools/index.js'
import type { Tool, ToolContext } from '../../src/tools/tool.js'

// MCP clients validate with ajv (draft-07 by default, as the SDK does); the schemas must mean the same under 2020-12.
const ajv = new Ajv({ strict: true, allErrors: true })
const ajv2020 = new Ajv2020({ strict: true, allErrors: true })
const withDefaults = new Ajv({ strict: true, useDefaults: true })

const isValid = (validate: ValidateFunction, x: unknown): boolean => validate(x) === true

// -------------------------------------------------------------------------------------
// toJsonSchema of each combinator
// -------------------------------------------------------------------------------------

test('toJsonSchema › int is an integer with its bounds', (t) => {
  t.deepEqual(toJsonSchema(int(1, 5)), { type: 'integer', minimum: 1, maximum: 5 })
})

test('toJsonSchema › num is a number with its bounds', (t) => {
  t.deepEqual(toJsonSchema(num(0, 1.5)), { type: 'number', minimum: 0, maximum: 1.5 })
})

test('toJsonSchema › str has maxLength, and minLength only when it is above zero', (t) => {
  t.deepEqual(toJsonSchema(str(1, 10)), { type: 'string', minLength: 1, maxLength: 10 })
  t.deepEqual(toJsonSchema(str(0, 10)), { type: 'string', maxLength: 10 })
  t.deepEqual(toJsonSchema(str()), { type: 'string', maxLength: 1_000_000 })
})

test('toJsonSchema › oneOf is an enum of its literals', (t) => {
  t.deepEqual(toJsonSchema(oneOf([5, 4, 3, 'auto'] as const)), { enum: [5, 4, 3, 'auto'] })
})

test('toJsonSchema › described adds the description and extra keywords to the inner schema', (t) => {
  t.deepEqual(toJsonSchema(described(int(0, 9), 'A digit.')), { type: 'integer', minimum: 0, maximum: 9, description: 'A digit.' })
  t.deepEqual(toJsonSchema(described(io.boolean, 'A flag.', { examples: [true] })), { type: 'boolean', description: 'A flag.', examples: [true] })
  t.deepEqual(toJsonSchema(described(described(io.string, 'inner'), 'outer')), { type: 'string', description: 'outer' })
})

test('toJsonSchema › optional adds the default when there is one, false and 0 included', (t) => {
  t.deepEqual(toJsonSchema(optional(int(0, 9), 3)), { type: 'integer', minimum: 0, maximum: 9, default: 3 })
  t.deepEqual(toJsonSchema(optional(int(0, 9), 0)), { type: 'integer', minimum: 0, maximum: 9, default: 0 })
  t.deepEqual(toJsonSchema(optional(io.boolean, false)), { type: 'boolean', default: false })
  t.deepEqual(toJsonSchema(optional(str(0, 5), '')), { type: 'string', maxLength: 5, default: '' })
  t.deepEqual(toJsonSchema(optional(io.boolean)), { type: 'boolean' })
})

test('toJsonSchema › object lists required properties and forbids others', (t) => {
  const schema = toJsonSchema(object({ a: io.string, b: optional(io.number), c: optional(io.boolean, true) }))
  t.deepEqual(schema, {
    type: 'object',
    properties: { a: { type: 'string' }, b: { type: 'number' }, c: { type: 'boolean', default: true } },
    required: ['a'],
    additionalProperties: false,
  })
  t.deepEqual(toJsonSchema(object({})), { type: 'object', properties: {}, additionalProperties: false })
})

test('toJsonSchema › looseObject allows other properties', (t) => {
  t.deepEqual(toJsonSchema(looseObject({ a: io.string })), {
    type: 'object',
    properties: { a: { type: 'string' } },
    required: ['a'],
    additionalProperties: true,
  })
})

test('toJsonSchema › translates the plain io-ts codecs used in outputs', (t) => {
  t.deepEqual(toJsonSchema(io.array(io.string)), { type: 'array', items: { type: 'string' } })
  t.deepEqual(toJsonSchema(io.readonlyArray(io.number)), { type: 'array', items: { type: 'number' } })
  t.deepEqual(toJsonSchema(io.record(io.string, io.string)), { type: 'object', additionalProperties: { type: 'string' } })
  t.deepEqual(toJsonSchema(io.union([io.string, io.null])), { anyOf: [{ type: 'string' }, { type: 'null' }] })
  t.deepEqual(toJsonSchema(io.literal('x')), { const: 'x' })
  t.deepEqual(toJsonSchema(io.keyof({ a: null, b: null })), { enum: ['a', 'b'] })
  t.deepEqual(toJsonSchema(io.unknown), {})
  t.deepEqual(toJsonSchema(io.Int), { type: 'number' })
  t.deepEqual(toJsonSchema(io.type({ a: io.string })), { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] })
  t.deepEqual(toJsonSchema(io.partial({ a: io.string })), { type: 'object', properties: { a: { type: 'string' } } })
})

test('toJsonSchema › refuses a codec it cannot describe, naming it', (t) => {
  const error = t.throws(() => toJsonSchema(io.tuple([io.string, io.number])))
  t.regex(error?.message ?? '', /no JSON Schema for codec \[string, number\] \(TupleType\)/)
})

// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

const decoded = <A>(c: io.Type<A, unknown, unknown>, u: unknown): A => {
  const r = c.decode(u)
  if (E.isLeft(r)) throw new Error(`expected ${JSON.stringify(u)} to decode`)
  return r.right
}

test('object › applies defaults and leaves optional properties without one absent', (t) => {
  const c = object({ a: io.string, n: optional(int(0, 9), 4), f: optional(io.boolean, false), o: optional(io.string) })
  const out = decoded(c, { a: 'x' })
  t.deepEqual(out, { a: 'x', n: 4, f: false })
  t.false('o' in out)
  t.deepEqual(decoded(c, { a: 'x', n: 0, f: true, o: '' }), { a: 'x', n: 0, f: true, o: '' })
})

test('object › rejects unknown keys, null, arrays and primitives', (t) => {
  const c = object({ a: optional(io.string) })
  for (const u of [{ b: 1 }, null, [], 'a', 1, true]) t.true(E.isLeft(c.decode(u)), JSON.stringify(u))
})

test('object › rejects unknown keys that happen to be Object.prototype names', (t) => {
  const c = object({ a: optional(io.string) })
  const validate = ajv.compile(toJsonSchema(c))
  for (const json of ['{"toString":1}', '{"constructor":"x"}', '{"hasOwnProperty":true}', '{"valueOf":0}', '{"__proto__":{}}']) {
    const u = JSON.parse(json) as unknown
    t.false(isValid(validate, u), `ajv accepted ${json}`)
    t.true(E.isLeft(c.decode(u)), `codec accepted ${json}`)
  }
})

test('looseObject › keeps keys it does not know', (t) => {
  t.deepEqual(decoded(looseObject({ a: io.string }), { a: 'x', b: 2 }), { a: 'x', b: 2 })
})

test('str › counts characters (code points) as JSON Schema maxLength and minLength do', (t) => {
  const c = str(1, 3)
  const validate = ajv.compile(toJsonSchema(c))
  for (const s of ['😀😀😀', '😀ab', '😀', 'abc']) {
    t.true(isValid(validate, s), s)
    t.true(E.isRight(c.decode(s)), s)
  }
  for (const s of ['😀😀😀😀', '', 'abcd']) {
    t.false(isValid(validate, s), s)
    t.true(E.isLeft(c.decode(s)), s)
  }
})

test('int › rejects fractions, strings and out-of-range numbers', (t) => {
  const c = int(-2, 2)
  for (const u of [-2, 0, 2, -0, 1.0]) t.true(E.isRight(c.decode(u)), String(u))
  for (const u of [-3, 3, 0.5, '1', null, Number.NaN, Number.POSITIVE_INFINITY]) t.true(E.isLeft(c.decode(u)), String(u))
})

test('oneOf › accepts exactly its literals, without coercion', (t) => {
  const c = oneOf([0, 1, 'auto'] as const)
  for (const u of [0, 1, 'auto']) t.true(E.isRight(c.decode(u)))
  for (const u of ['0', '1', 'AUTO', 2, true, null]) t.true(E.isLeft(c.decode(u)), JSON.stringify(u))
})

// -------------------------------------------------------------------------------------
// codec and schema agree: a representative codec, property-based
// -------------------------------------------------------------------------------------

const representative = object(
  {
    name: described(str(1, 5), 'A name.'),
    count: optional(described(int(-3, 10), 'A count.'), 2),
    ratio: optional(described(num(0, 1), 'A ratio.')),
    mode: optional(described(oneOf(['fast', 'slow', 3] as const), 'A mode.'), 'fast'),
    flag: optional(described(io.boolean, 'A flag.'), false),
    tags: optional(described(io.array(str(0, 3)), 'Tags.')),
    labels: optional(described(io.record(io.string, int(0, 5)), 'Labels.')),
    nested: optional(described(object({ x: int(0, 1), y: optional(str(2, 2), 'ab') }, 'nested'), 'Nested.')),
    either: optional(io.union([io.null, str(1, 2), int(0, 1)])),
    loose: optional(looseObject({ id: io.string })),
  },
  'representative',
)
const representativeSchema = toJsonSchema(representative)

const MISSING = Symbol('missing')
const junk = fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, '', 'x', '1', [], {}, [1], { a: 1 })
const text = (maxLength: number) => fc.string({ unit: 'binary', maxLength })
const orJunk = <A>(a: fc.Arbitrary<A>) => fc.oneof({ weight: 12, arbitrary: a as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk })

/** An object from optional entries: absent when MISSING. */
const assemble = (entries: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== MISSING))
/** Absent with probability 1/freq. */
const maybe = <A>(a: fc.Arbitrary<A>, freq = 2) => fc.option(a, { nil: MISSING, freq })
/** Present once in three draws: optional properties that are mostly absent keep the valid share high. */
const sometimes = <A>(a: fc.Arbitrary<A>) =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(MISSING) }, { weight: 1, arbitrary: a as fc.Arbitrary<unknown> })
/** Present once in `odds` draws. */
const rarely = <A>(a: fc.Arbitrary<A>, odds: number) =>
  fc.oneof({ weight: odds - 1, arbitrary: fc.constant(MISSING) }, { weight: 1, arbitrary: a as fc.Arbitrary<unknown> })

const representativeInput: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  {
    weight: 12,
    arbitrary: fc
      .record({
        name: maybe(
          orJunk(
            fc.oneof(
              { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 5 }) },
              { weight: 1, arbitrary: text(8) },
              { weight: 1, arbitrary: fc.constantFrom('', 'abcde', 'abcdef', '😀😀😀😀😀', '😀😀😀😀😀😀', '\ud800\ud800\ud800\ud800\ud800\ud800') },
            ),
          ),
          8,
        ),
        count: sometimes(orJunk(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -4, max: 11 }) }, { weight: 1, arbitrary: fc.double({ min: -5, max: 12, noNaN: true }) }))),
        ratio: sometimes(orJunk(fc.double({ min: -0.1, max: 1.1, noNaN: true }))),
        mode: sometimes(fc.constantFrom<unknown>('fast', 'slow', 3, '3', 'FAST', 4, null)),
        flag: sometimes(orJunk(fc.boolean())),
        tags: sometimes(orJunk(fc.array(orJunk(text(4)), { maxLength: 3 }))),
        labels: sometimes(orJunk(fc.dictionary(fc.string({ maxLength: 3 }), orJunk(fc.integer({ min: -1, max: 6 })), { maxKeys: 3 }))),
        nested: sometimes(
          orJunk(
            fc
              .record({
                x: maybe(orJunk(fc.integer({ min: -1, max: 2 })), 5),
                y: maybe(orJunk(text(3))),
                z: rarely(fc.constant(1), 8),
              })
              .map(assemble),
          ),
        ),
        either: sometimes(fc.constantFrom<unknown>(null, 'a', 'ab', 'abc', '', 0, 1, 2, true, [])),
        loose: sometimes(orJunk(fc.record({ id: maybe(orJunk(text(3)), 4), extra: maybe(fc.jsonValue({ maxDepth: 1 })) }).map(assemble))),
        unknown_field: rarely(fc.jsonValue({ maxDepth: 1 }), 20),
        toString: rarely(fc.constant('x'), 40),
      })
      .map(assemble),
  },
)

test('representative codec › decodes exactly the values its JSON Schema accepts (draft-07 and 2020-12)', (t) => {
  const v7 = ajv.compile(representativeSchema)
  const v2020 = ajv2020.compile(representativeSchema)
  let accepted = 0
  let total = 0
  fc.assert(
    fc.property(representativeInput, (x) => {
      const codec = E.isRight(representative.decode(x))
      total++
      if (codec) accepted++
      if (codec !== isValid(v7, x)) throw new Error(`codec ${codec}, ajv draft-07 ${!codec}; errors ${JSON.stringify(v7.errors)}`)
      if (codec !== isValid(v2020, x)) throw new Error(`codec ${codec}, ajv 2020-12 ${!codec}; errors ${JSON.stringify(v2020.errors)}`)
    }),
    { numRuns: 3000 },
  )
  // the generator must exercise both answers, not only rejections
  t.true(accepted > total / 20, `${accepted} of ${total} accepted`)
  t.true(accepted < total * 0.9, `${accepted} of ${total} accepted`)
})

test('representative codec › fills in the same defaults as ajv with useDefaults', (t) => {
  const fill = withDefaults.compile(representativeSchema)
  const validate = ajv.compile(representativeSchema)
  fc.assert(
    fc.property(representativeInput, (x) => {
      const r = representative.decode(x)
      if (E.isLeft(r)) return
      const filled = structuredClone(x)
      fill(filled)
      t.deepEqual(r.right, filled)
      // and what the codec produced is itself valid
      if (!isValid(validate, r.right)) throw new Error(`decoded value fails its schema: ${JSON.stringify(validate.errors)}`)
    }),
    { numRuns: 1000 },
  )
})

test('representative codec › agrees with its schema on hand-picked edge cases', (t) => {
  const validate = ajv.compile(representativeSchema)
  const cases: Array<[unknown, boolean]> = [
    [{ name: 'a' }, true],
    [{ name: 'abcde', count: -3, ratio: 1, mode: 3, flag: true, tags: [], labels: {}, nested: { x: 0 }, either: null, loose: { id: '', more: [1] } }, true],
    [{ name: '😀😀😀😀😀' }, true],
    [{ name: '😀😀😀😀😀😀' }, false],
    [{ name: '' }, false],
    [{}, false],
    [{ name: 'a', count: 10.5 }, false],
    [{ name: 'a', count: 11 }, false],
    [{ name: 'a', mode: '3' }, false],
    [{ name: 'a', tags: ['abcd'] }, false],
    [{ name: 'a', labels: { k: 6 } }, false],
    [{ name: 'a', labels: ['x'] }, false],
    [{ name: 'a', nested: { x: 1, z: 1 } }, false],
    [{ name: 'a', nested: {} }, false],
    [{ name: 'a', either: 'abc' }, false],
    [{ name: 'a', either: 2 }, false],
    [{ name: 'a', loose: {} }, false],
    [{ name: 'a', other: 1 }, false],
    [[], false],
    [null, false],
  ]
  for (const [x, expected] of cases) {
    t.is(isValid(validate, x), expected, `ajv on ${JSON.stringify(x)}`)
    t.is(E.isRight(representative.decode(x)), expected, `codec on ${JSON.stringify(x)}`)
  }
})

// -------------------------------------------------------------------------------------
// the real tools
// -------------------------------------------------------------------------------------

/** A context that fails loudly on any use: a handler reaching it proves the arguments decoded. */
const CTX_TOUCHED = 'ctx touched by the handler'
const untouchableCtx = new Proxy({} as ToolContext, {
  get: (_target, prop) => {
    throw new Error(`${CTX_TOUCHED}: ${String(prop)}`)
  },
})

/** Whether the tool's codec accepted `args`: a decode failure is InvalidInput from fromValidationErrors, before the handler. */
async function codecAccepts(tool: Tool, args: unknown): Promise<{ accepted: boolean; error?: AppError }> {
  const r = await tool.call(args, untouchableCtx)
  if (E.isRight(r)) return { accepted: true }
  const rejected = r.left._tag === 'InvalidInput' && r.left.message.startsWith('Invalid arguments.')
  return { accepted: !rejected, error: r.left }
}

const propertiesOf = (schema: JsonSchema): Record<string, JsonSchema> => (schema['properties'] ?? {}) as Record<string, JsonSchema>

/** Every property schema of an object schema, nested objects included, with its dotted path. */
function allProperties(schema: JsonSchema, prefix = ''): Array<[string, JsonSchema]> {
  return Object.entries(propertiesOf(schema)).flatMap(([k, s]) => [
    [prefix + k, s] as [string, JsonSchema],
    ...(s['type'] === 'object' && s['properties'] !== undefined ? allProperties(s, `${prefix}${k}.`) : []),
  ])
}

test('tools › there is at least one tool and every name is unique and snake_case', (t) => {
  t.true(tools.length >= 4)
  const names = tools.map((tool) => tool.name)
  t.is(new Set(names).size, names.length)
  for (const name of names) t.regex(name, /^mqtt_[a-z]+(_[a-z]+)*$/)
})

test('tools › every inputSchema is a strict object schema that ajv accepts as a JSON Schema', (t) => {
  for (const tool of tools) {
    const s = tool.inputSchema
    t.is(s['type'], 'object', tool.name)
    t.is(s['additionalProperties'], false, tool.name)
    t.is(typeof s['properties'], 'object', tool.name)
    t.true(ajv.validateSchema(s) as boolean, `${tool.name}: ${JSON.stringify(ajv.errors)}`)
    t.true(ajv2020.validateSchema(s) as boolean, `${tool.name}: ${JSON.stringify(ajv2020.errors)}`)
    t.notThrows(() => ajv.compile(s), tool.name)
    for (const key of (s['required'] ?? []) as string[]) t.true(key in propertiesOf(s), `${tool.name}: required ${key} is a property`)
  }
})

test('tools › every outputSchema is an object schema that ajv accepts as a JSON Schema', (t) => {
  for (const tool of tools) {
    const s = tool.outputSchema
    t.is(s['type'], 'object', tool.name)
    t.true(ajv.validateSchema(s) as boolean, `${tool.name}: ${JSON.stringify(ajv.errors)}`)
    t.notThrows(() => ajv.compile(s), tool.name)
    t.notThrows(() => ajv2020.compile(s), tool.name)
  }
})

test('tools › every input property, nested ones included, has a description', (t) => {
  for (const tool of tools) {
    for (const [path, s] of allProperties(tool.inputSchema)) {
      t.is(typeof s['description'], 'string', `${tool.name}.${path}`)
      t.true(String(s['description']).length >= 10, `${tool.name}.${path}: ${String(s['description'])}`)
    }
  }
})

test('tools › every nested input object forbids unknown properties too', (t) => {
  for (const tool of tools) {
    for (const [path, s] of allProperties(tool.inputSchema)) {
      if (s['type'] === 'object' && s['properties'] !== undefined) t.is(s['additionalProperties'], false, `${tool.name}.${path}`)
    }
  }
})

test('tools › every default satisfies the schema of its own property', (t) => {
  for (const tool of tools) {
    for (const [path, s] of allProperties(tool.inputSchema)) {
      if (!('default' in s)) continue
      const { default: value, ...rest } = s
      t.true(ajv.validate(rest, value) as boolean, `${tool.name}.${path} default ${JSON.stringify(value)}`)
    }
  }
})

test('tools › the connect options advertise exactly the defaults their codecs apply', (t) => {
  const establish = tools.find((tool) => tool.name === 'mqtt_establish_connection')
  if (establish === undefined) return t.fail('mqtt_establish_connection is missing')
  const props = propertiesOf(establish.inputSchema)
  for (const [key, codec] of Object.entries(connectProps)) {
    const schema = props[key]
    if (schema === undefined) return t.fail(`${key} is not advertised`)
    if (codec instanceof Optional && codec.hasDefault) t.deepEqual(schema['default'], codec.defaultValue, key)
    else t.false('default' in schema, key)
  }
  t.true(tlsCodec instanceof StrictObject)
  const tlsProps = propertiesOf(props['tls'] ?? {})
  for (const [key, codec] of Object.entries(tlsCodec.props as Record<string, unknown>)) {
    if (codec instanceof Optional && codec.hasDefault) t.deepEqual(tlsProps[key]?.['default'], codec.defaultValue, `tls.${key}`)
    else t.false('default' in (tlsProps[key] ?? {}), `tls.${key}`)
  }
})

/** The documented defaults (TOOLS.md), per tool and property path. */
const documentedDefaults: Record<string, Record<string, unknown>> = {
  mqtt_establish_connection: {
    protocol_version: 'auto',
    keepalive_seconds: 60,
    clean_session: true,
    connect_timeout_seconds: 30,
    'tls.reject_unauthorized': true,
  },
  mqtt_list_active_connections: {},
  mqtt_close_connection: {},
  mqtt_publish_message: { payload: '', payload_encoding: 'utf8', qos: 0, retain: false, timeout_seconds: 30 },
}

test('tools › advertise the documented defaults and no others', (t) => {
  for (const tool of tools) {
    const expected = documentedDefaults[tool.name]
    if (expected === undefined) continue
    const actual = Object.fromEntries(allProperties(tool.inputSchema).filter(([, s]) => 'default' in s).map(([p, s]) => [p, s['default']]))
    t.deepEqual(actual, expected, tool.name)
  }
})

// hand-written samples: what must be accepted and what must be refused, with the field to blame

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
const cs = { connection_string: 'mqtt://localhost' }

interface Samples {
  readonly valid: readonly unknown[]
  readonly invalid: ReadonlyArray<readonly [args: unknown, field: string]>
}

const samples: Record<string, Samples> = {
  mqtt_establish_connection: {
    valid: [
      cs,
      { connection_string: 'ws://h', protocol_version: 'auto' },
      { ...cs, protocol_version: 3 },
      { ...cs, tls: {} },
      { ...cs, password: '' },
      {
        connection_string: 'mqtts://u:p@broker.example.com:8883/client',
        username: 'alice',
        password: 'pw',
        client_id: 'c1',
        protocol_version: 5,
        keepalive_seconds: 0,
        clean_session: false,
        connect_timeout_seconds: 120,
        name: 'lab',
        tls: { ca: PEM, cert: PEM, key: PEM, passphrase: 'x', reject_unauthorized: false, servername: 'broker', alpn: ['mqtt'] },
      },
      { ...cs, name: '😀'.repeat(100) },
    ],
    invalid: [
      [{}, 'connection_string'],
      [{ connection_string: '' }, 'connection_string'],
      [{ connection_string: 5 }, 'connection_string'],
      [{ ...cs, protocol_version: 6 }, 'protocol_version'],
      [{ ...cs, protocol_version: '5' }, 'protocol_version'],
      [{ ...cs, keepalive_seconds: -1 }, 'keepalive_seconds'],
      [{ ...cs, keepalive_seconds: 65536 }, 'keepalive_seconds'],
      [{ ...cs, keepalive_seconds: 1.5 }, 'keepalive_seconds'],
      [{ ...cs, keepalive_seconds: '60' }, 'keepalive_seconds'],
      [{ ...cs, connect_timeout_seconds: 0 }, 'connect_timeout_seconds'],
      [{ ...cs, connect_timeout_seconds: 121 }, 'connect_timeout_seconds'],
      [{ ...cs, clean_session: 'true' }, 'clean_session'],
      [{ ...cs, client_id: '' }, 'client_id'],
      [{ ...cs, name: '' }, 'name'],
      [{ ...cs, name: 'x'.repeat(101) }, 'name'],
      [{ ...cs, tls: null }, 'tls'],
      [{ ...cs, tls: 'yes' }, 'tls'],
      [{ ...cs, tls: { cafile: 'x' } }, 'tls.cafile'],
      [{ ...cs, tls: { ca: '' } }, 'tls.ca'],
      [{ ...cs, tls: { alpn: 'mqtt' } }, 'tls.alpn'],
      [{ ...cs, tls: { alpn: ['mqtt', 1] } }, 'tls.alpn.1'],
      [{ ...cs, tls: { reject_unauthorized: 'false' } }, 'tls.reject_unauthorized'],
      [{ ...cs, host: 'localhost' }, 'host'],
      [JSON.parse('{"connection_string":"mqtt://h","constructor":"x"}'), 'constructor'],
    ],
  },
  mqtt_list_active_connections: {
    valid: [{}],
    invalid: [
      [{ session_id: 'abc' }, 'session_id'],
      [{ verbose: true }, 'verbose'],
    ],
  },
  mqtt_close_connection: {
    valid: [{ session_id: 'abc' }, { session_id: 'x'.repeat(200) }],
    invalid: [
      [{}, 'session_id'],
      [{ session_id: '' }, 'session_id'],
      [{ session_id: 5 }, 'session_id'],
      [{ session_id: 'x'.repeat(201) }, 'session_id'],
      [{ session_id: 'a', force: true }, 'force'],
    ],
  },
  mqtt_publish_message: {
    valid: [
      { topic: 'a/b' },
      { topic: 'a', payload: '{"x":1}', payload_encoding: 'json', qos: 1 },
      {
        session_id: 's',
        topic: 'a/b',
        payload: '',
        payload_encoding: 'hex',
        qos: 2,
        retain: true,
        content_type: 'text/plain',
        user_properties: { a: 'b', '': '' },
        response_topic: 'r',
        correlation_data: 'c',
        message_expiry_seconds: 4_294_967_295,
        timeout_seconds: 300,
      },
    ],
    invalid: [
      [{}, 'topic'],
      [{ topic: '' }, 'topic'],
      [{ topic: 'a', qos: 3 }, 'qos'],
      [{ topic: 'a', qos: '1' }, 'qos'],
      [{ topic: 'a', payload: 5 }, 'payload'],
      [{ topic: 'a', payload: null }, 'payload'],
      [{ topic: 'a', payload_encoding: 'latin1' }, 'payload_encoding'],
      [{ topic: 'a', retain: 'yes' }, 'retain'],
      [{ topic: 'a', user_properties: { k: 1 } }, 'user_properties.k'],
      [{ topic: 'a', user_properties: ['k'] }, 'user_properties'],
      [{ topic: 'a', message_expiry_seconds: 0 }, 'message_expiry_seconds'],
      [{ topic: 'a', message_expiry_seconds: 4_294_967_296 }, 'message_expiry_seconds'],
      [{ topic: 'a', timeout_seconds: 301 }, 'timeout_seconds'],
      [{ topic: 'a', content_type: '' }, 'content_type'],
      [{ topic: 'a', session_id: '' }, 'session_id'],
      [{ topic: 'a', payload_format: 1 }, 'payload_format'],
      [JSON.parse('{"topic":"a","toString":"x"}'), 'toString'],
    ],
  },
}

test('tools › accept the valid samples, in the codec and in ajv', async (t) => {
  for (const tool of tools) {
    const validate = ajv.compile(tool.inputSchema)
    for (const args of samples[tool.name]?.valid ?? []) {
      const label = `${tool.name} ${JSON.stringify(args).slice(0, 200)}`
      t.true(isValid(validate, args), `ajv: ${label} ${JSON.stringify(validate.errors)}`)
      const r = await codecAccepts(tool, args)
      t.true(r.accepted, `codec: ${label} ${r.error?.message ?? ''}`)
      // each valid sample gets as far as the handler's first use of the context
      t.is(r.error?._tag, 'Internal', label)
      t.true(r.error?.message.startsWith(CTX_TOUCHED), `${label}: ${r.error?.message ?? ''}`)
    }
  }
})

test('tools › refuse the invalid samples, in the codec and in ajv, naming the field', async (t) => {
  for (const tool of tools) {
    const validate = ajv.compile(tool.inputSchema)
    for (const [args, field] of samples[tool.name]?.invalid ?? []) {
      const label = `${tool.name} ${JSON.stringify(args).slice(0, 200)}`
      t.false(isValid(validate, args), `ajv: ${label}`)
      const r = await codecAccepts(tool, args)
      t.false(r.accepted, `codec: ${label}`)
      const fields = r.error?._tag === 'InvalidInput' ? r.error.fields.map((f) => f.field) : []
      t.deepEqual(fields, [field], label)
    }
  }
})

test('tools › leaving out the arguments is the same as passing {}', async (t) => {
  for (const tool of tools) {
    const empty = await codecAccepts(tool, {})
    t.is((await codecAccepts(tool, undefined)).accepted, empty.accepted, tool.name)
    t.is((await codecAccepts(tool, null)).accepted, empty.accepted, tool.name)
  }
})

test('tools › refuse arguments that are not an object, in the codec and in ajv', async (t) => {
  for (const tool of tools) {
    const validate = ajv.compile(tool.inputSchema)
    for (const args of [5, 'x', [], [{}], true]) {
      t.false(isValid(validate, args), `${tool.name} ajv ${JSON.stringify(args)}`)
      t.false((await codecAccepts(tool, args)).accepted, `${tool.name} codec ${JSON.stringify(args)}`)
    }
  }
})

// generated samples, driven by each tool's own schema, so a tool added later is covered too

const SAFE_TEXT = fc.string({
  unit: fc.constantFrom('a', 'b', 'Z', '0', '-', '_', '.', ' ', 'é', '😀', '#', '+'),
  maxLength: 6,
})

/** Values near what `schema` accepts: valid ones, boundary cases and type errors. Strings hold no '/', so no file is read. */
function near(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const valid = nearValid(schema, depth)
  return fc.oneof({ weight: 8, arbitrary: valid }, { weight: 1, arbitrary: junk })
}

function nearValid(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (Array.isArray(schema['enum'])) return fc.constantFrom<unknown>(...(schema['enum'] as unknown[]), 'other', 99)
  if ('const' in schema) return fc.constantFrom<unknown>(schema['const'], 'other')
  if (Array.isArray(schema['anyOf'])) return fc.oneof(...(schema['anyOf'] as JsonSchema[]).map((s) => near(s, depth + 1)))
  switch (schema['type']) {
    case 'integer':
    case 'number': {
      const min = schema['minimum'] as number | undefined
      const max = schema['maximum'] as number | undefined
      const lo = (min ?? -1000) - 1
      const hi = (max ?? 1000) + 1
      const edges = [lo, hi, lo + 1, hi - 1, 0, 0.5, lo + 1.5].filter((n) => Number.isFinite(n))
      return fc.oneof(fc.integer({ min: Math.max(lo, -(2 ** 31)), max: Math.min(hi, 2 ** 31) }), fc.constantFrom(...edges))
    }
    case 'string': {
      const min = (schema['minLength'] as number | undefined) ?? 0
      const max = schema['maxLength'] as number | undefined
      const edges = ['', 'x'.repeat(min)]
      if (max !== undefined && max <= 5000) edges.push('x'.repeat(max), 'x'.repeat(max + 1), '😀'.repeat(max), '😀'.repeat(max + 1))
      return fc.oneof({ weight: 3, arbitrary: SAFE_TEXT }, { weight: 1, arbitrary: fc.constantFrom(...edges) })
    }
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array':
      return fc.array(near((schema['items'] ?? {}) as JsonSchema, depth + 1), { maxLength: 3 })
    case 'object': {
      const props = propertiesOf(schema)
      const required = new Set((schema['required'] ?? []) as string[])
      const entries = Object.fromEntries(
        Object.entries(props).map(([k, s]) => [k, required.has(k) ? maybe(near(s, depth + 1), 12) : sometimes(near(s, depth + 1))]),
      )
      const extraValue = schema['additionalProperties']
      const extras =
        typeof extraValue === 'object' && extraValue !== null
          ? fc.dictionary(fc.string({ maxLength: 4 }), near(extraValue as JsonSchema, depth + 1), { maxKeys: 3 })
          : fc.oneof(
              { weight: 10, arbitrary: fc.constant({}) },
              { weight: 1, arbitrary: fc.constantFrom({ unknown_field: 1 }, { toString: 'x' }, { [Object.keys(props)[0] ?? 'a']: undefined }) },
            )
      return fc.tuple(fc.record(entries), extras).map(([own, extra]) => ({ ...extra, ...assemble(own) }))
    }
    default:
      return fc.jsonValue({ maxDepth: 1 })
  }
}

test('tools › decode exactly the generated arguments their inputSchema accepts', async (t) => {
  for (const tool of tools) {
    const validate = ajv.compile(tool.inputSchema)
    let accepted = 0
    let total = 0
    await fc.assert(
      fc.asyncProperty(nearValid(tool.inputSchema, 0), async (args) => {
        // JSON has no undefined: what a client can send is what survives a round trip
        const sent = JSON.parse(JSON.stringify(args)) as unknown
        const schemaSays = isValid(validate, sent)
        const r = await codecAccepts(tool, sent)
        total++
        if (r.accepted) accepted++
        if (r.accepted !== schemaSays) {
          throw new Error(`${tool.name}: codec ${r.accepted} (${r.error?.message ?? ''}), ajv ${schemaSays} ${JSON.stringify(validate.errors)}`)
        }
      }),
      { numRuns: 400 },
    )
    t.true(accepted >= 5 && total - accepted >= 5, `${tool.name}: ${accepted} of ${total} accepted`)
  }
})
