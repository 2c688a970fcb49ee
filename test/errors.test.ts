import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import * as err from '../src/errors.js'
import type { AppError, ErrorTag, InvalidInput } from '../src/errors.js'
import { described, int, object, oneOf, optional, str } from '../src/mcp/codec.js'

/** One example of every tag; the Record type makes the compiler check none is missing. */
const examples: { readonly [K in ErrorTag]: AppError } = {
  BrokerUnreachable: err.brokerUnreachable({ message: 'no route', cause: 'tcp refused' }),
  AuthenticationFailed: err.authenticationFailed({ message: 'bad password', reasonCode: 134 }),
  NotAuthorized: err.notAuthorized({ message: 'not allowed', reasonCode: 135 }),
  ConnectionRefused: err.connectionRefused({ message: 'refused', reasonCode: 133 }),
  ConnectTimeout: err.connectTimeout({ message: 'no CONNACK', timeoutMs: 30_000, phase: 'connack' }),
  TlsFailed: err.tlsFailed({ message: 'self-signed', check: 'unknown CA' }),
  ConnectionLost: err.connectionLost({ message: 'socket closed' }),
  NotConnected: err.notConnected({ message: 'reconnecting' }),
  SessionNotFound: err.sessionNotFound({ message: 'no such session', sessionId: 'abc' }),
  SessionExpired: err.sessionExpired({ message: 'idle too long', sessionId: 'abc' }),
  ResourceLimit: err.resourceLimit({ message: 'too many sessions', limit: 5 }),
  InvalidInput: err.invalidInput({ message: 'bad qos', fields: [{ field: 'qos', expected: 'one of 0, 1, 2', got: '3' }] }),
  InvalidTopic: err.invalidTopic({ message: 'wildcard', field: 'topic', topic: 'a/#' }),
  PayloadTooLarge: err.payloadTooLarge({ message: 'too big', bytes: 2_000_000, limit: 1_048_576 }),
  QosNotSupported: err.qosNotSupported({ message: 'qos 2', qos: 2 }),
  SubscribeRejected: err.subscribeRejected({ message: 'SUBACK 0x80', filter: 'a/#', reasonCode: 128 }),
  PublishFailed: err.publishFailed({ message: 'PUBACK 0x87', reasonCode: 135 }),
  PublishDenied: err.publishDenied({ message: 'read-only', rule: 'read-only' }),
  Cancelled: err.cancelled({ message: 'cancelled by the client' }),
  Internal: err.internal({ message: 'boom' }),
}
const all = Object.values(examples)

const DOCUMENTED_CODES = [
  'BROKER_UNREACHABLE',
  'AUTHENTICATION_FAILED',
  'NOT_AUTHORIZED',
  'CONNECTION_REFUSED',
  'CONNECT_TIMEOUT',
  'TLS_FAILED',
  'CONNECTION_LOST',
  'NOT_CONNECTED',
  'SESSION_NOT_FOUND',
  'SESSION_EXPIRED',
  'RESOURCE_LIMIT',
  'INVALID_INPUT',
  'INVALID_TOPIC',
  'PAYLOAD_TOO_LARGE',
  'QOS_NOT_SUPPORTED',
  'SUBSCRIBE_REJECTED',
  'PUBLISH_FAILED',
  'PUBLISH_DENIED',
  'CANCELLED',
  'INTERNAL_ERROR',
]

const body = (e: AppError): Record<string, unknown> => {
  const parsed = JSON.parse(err.toToolResult(e).content[0]?.text ?? 'null') as { error: Record<string, unknown> }
  return parsed.error
}

// codes, categories, retryability

test('every error tag has the documented stable code, in declaration order', (t) => {
  t.deepEqual(all.map(err.codeOf), DOCUMENTED_CODES)
})

test('no two error tags share a code', (t) => {
  const codes = all.map(err.codeOf)
  t.is(new Set(codes).size, codes.length)
})

test('each constructor sets its own tag', (t) => {
  for (const [tag, e] of Object.entries(examples)) t.is(e._tag as string, tag)
})

test('errors fall into the categories of the original hierarchy', (t) => {
  const byCategory = (c: err.Category) => all.filter((e) => err.categoryOf(e) === c).map((e) => e._tag)
  t.deepEqual(byCategory('connection'), [
    'BrokerUnreachable',
    'AuthenticationFailed',
    'NotAuthorized',
    'ConnectionRefused',
    'ConnectTimeout',
    'TlsFailed',
    'ConnectionLost',
    'NotConnected',
  ])
  t.deepEqual(byCategory('session'), ['SessionNotFound', 'SessionExpired', 'ResourceLimit'])
  t.deepEqual(byCategory('operation'), [
    'InvalidInput',
    'InvalidTopic',
    'PayloadTooLarge',
    'QosNotSupported',
    'SubscribeRejected',
    'PublishFailed',
    'PublishDenied',
    'Cancelled',
    'Internal',
  ])
})

test('isRetryable is true for transient connection errors', (t) => {
  for (const tag of ['BrokerUnreachable', 'ConnectTimeout', 'ConnectionLost', 'NotConnected'] as const) {
    t.true(err.isRetryable(examples[tag]), tag)
  }
})

test('isRetryable is false for auth, TLS, refusals, session and input errors', (t) => {
  for (const tag of [
    'AuthenticationFailed',
    'NotAuthorized',
    'ConnectionRefused',
    'TlsFailed',
    'SessionNotFound',
    'SessionExpired',
    'ResourceLimit',
    'InvalidInput',
    'InvalidTopic',
    'PayloadTooLarge',
    'QosNotSupported',
    'SubscribeRejected',
    'PublishDenied',
    'Cancelled',
  ] as const) {
    t.false(err.isRetryable(examples[tag]), tag)
  }
})

// toToolResult

test('toToolResult gives isError, exactly one text block and no structuredContent', (t) => {
  for (const e of all) {
    const r = err.toToolResult(e)
    t.true(r.isError)
    t.is(r.content.length, 1)
    t.is(r.content[0]?.type, 'text')
    t.false('structuredContent' in r, e._tag)
    t.deepEqual(Object.keys(r).sort(), ['content', 'isError'])
  }
})

test('toToolResult holds { error: { code, category, message, hint, retryable } } as JSON', (t) => {
  for (const e of all) {
    const parsed = JSON.parse(err.toToolResult(e).content[0]?.text ?? '') as Record<string, unknown>
    t.deepEqual(Object.keys(parsed), ['error'])
    const b = body(e)
    const expectedKeys = ['code', 'category', 'message', 'hint', 'retryable', ...(e._tag === 'InvalidInput' ? ['fields'] : [])]
    t.deepEqual(Object.keys(b), expectedKeys, e._tag)
    t.is(b['code'], err.codeOf(e))
    t.is(b['category'], err.categoryOf(e))
    t.is(b['message'], e.message)
    t.is(b['retryable'], err.isRetryable(e))
    t.is(typeof b['hint'], 'string')
    t.true((b['hint'] as string).length > 10, e._tag)
  }
})

test('toToolResult lists the bad fields of an InvalidInput', (t) => {
  t.deepEqual(body(examples.InvalidInput)['fields'], [{ field: 'qos', expected: 'one of 0, 1, 2', got: '3' }])
})

test('toToolResult uses the hint given to the constructor over the default one', (t) => {
  const e = err.connectionRefused({ message: 'refused', reasonCode: 133, hint: 'Use another client_id.' })
  t.is(body(e)['hint'], 'Use another client_id.')
  t.not(body(examples.ConnectionRefused)['hint'], 'Use another client_id.')
})

test('toToolResult does not copy tag-specific fields such as reason codes or topics into the body', (t) => {
  const b = body(err.subscribeRejected({ message: 'no', filter: 'a/#', reasonCode: 135 }))
  t.false('filter' in b)
  t.false('reasonCode' in b)
})

// match

test('match calls the handler of the error tag and only that one', (t) => {
  const name = err.match<string>({
    BrokerUnreachable: (e) => `BrokerUnreachable:${e.cause ?? ''}`,
    AuthenticationFailed: (e) => `AuthenticationFailed:${e.reasonCode ?? ''}`,
    NotAuthorized: (e) => `NotAuthorized:${e.reasonCode ?? ''}`,
    ConnectionRefused: (e) => `ConnectionRefused:${e.reasonCode}`,
    ConnectTimeout: (e) => `ConnectTimeout:${e.timeoutMs}`,
    TlsFailed: (e) => `TlsFailed:${e.check ?? ''}`,
    ConnectionLost: () => 'ConnectionLost:',
    NotConnected: () => 'NotConnected:',
    SessionNotFound: (e) => `SessionNotFound:${e.sessionId ?? ''}`,
    SessionExpired: (e) => `SessionExpired:${e.sessionId}`,
    ResourceLimit: (e) => `ResourceLimit:${e.limit}`,
    InvalidInput: (e) => `InvalidInput:${e.fields.length}`,
    InvalidTopic: (e) => `InvalidTopic:${e.topic}`,
    PayloadTooLarge: (e) => `PayloadTooLarge:${e.bytes}/${e.limit}`,
    QosNotSupported: (e) => `QosNotSupported:${e.qos}`,
    SubscribeRejected: (e) => `SubscribeRejected:${e.filter}`,
    PublishFailed: (e) => `PublishFailed:${e.reasonCode ?? ''}`,
    PublishDenied: (e) => `PublishDenied:${e.rule}`,
    Cancelled: () => 'Cancelled:',
    Internal: (e) => `Internal:${e.message}`,
  })
  t.deepEqual(all.map(name), [
    'BrokerUnreachable:tcp refused',
    'AuthenticationFailed:134',
    'NotAuthorized:135',
    'ConnectionRefused:133',
    'ConnectTimeout:30000',
    'TlsFailed:unknown CA',
    'ConnectionLost:',
    'NotConnected:',
    'SessionNotFound:abc',
    'SessionExpired:abc',
    'ResourceLimit:5',
    'InvalidInput:1',
    'InvalidTopic:a/#',
    'PayloadTooLarge:2000000/1048576',
    'QosNotSupported:2',
    'SubscribeRejected:a/#',
    'PublishFailed:135',
    'PublishDenied:read-only',
    'Cancelled:',
    'Internal:boom',
  ])
})

// fromUnknown, isAppError

test('fromUnknown keeps an AppError as it is', (t) => {
  for (const e of all) t.is(err.fromUnknown(e), e)
})

test('fromUnknown turns an Error into an Internal error with its message', (t) => {
  const e = err.fromUnknown(new TypeError('cannot read x of undefined'))
  t.deepEqual(e, { _tag: 'Internal', message: 'cannot read x of undefined' })
  t.is(err.codeOf(e), 'INTERNAL_ERROR')
})

test('fromUnknown turns a thrown string or other value into an Internal error', (t) => {
  t.deepEqual(err.fromUnknown('plain failure'), { _tag: 'Internal', message: 'plain failure' })
  t.deepEqual(err.fromUnknown(42), { _tag: 'Internal', message: '42' })
  t.deepEqual(err.fromUnknown(undefined), { _tag: 'Internal', message: 'undefined' })
  t.deepEqual(err.fromUnknown(null), { _tag: 'Internal', message: 'null' })
})

test('fromUnknown does not mistake a look-alike with an unknown tag for an AppError', (t) => {
  const e = err.fromUnknown({ _tag: 'Left', message: 'not ours' })
  t.is(e._tag, 'Internal')
  t.false(err.isAppError({ _tag: 'Left', message: 'x' }))
  t.false(err.isAppError({ _tag: 'Cancelled' }))
  t.false(err.isAppError(null))
  t.false(err.isAppError('Cancelled'))
  t.true(err.isAppError({ _tag: 'Cancelled', message: 'x' }))
})

// fromValidationErrors on real io-ts failures

const codec = object(
  {
    connection_string: described(str(1, 100), 'Broker URL.'),
    qos: optional(described(oneOf([0, 1, 2] as const), 'QoS.'), 0),
    keepalive_seconds: optional(int(0, 65535), 60),
    password: optional(str(0, 20)),
    topics: optional(t.array(str(1, 10))),
    value: optional(t.union([t.null, int(0, 5)])),
    tls: optional(
      described(
        object({ ca: optional(str(1, 50)), passphrase: optional(str(1, 10)), alpn: optional(t.array(t.string)) }, 'tls'),
        'TLS options.',
      ),
    ),
  },
  'example_tool',
)

const problems = (u: unknown): InvalidInput => {
  const r = codec.decode(u)
  if (E.isRight(r)) throw new Error(`expected a decode failure for ${JSON.stringify(u)}`)
  const e = err.fromValidationErrors(r.left)
  if (e._tag !== 'InvalidInput') throw new Error(`expected InvalidInput, got ${e._tag}`)
  return e
}
const fieldsOf = (u: unknown): string[] => problems(u).fields.map((f) => f.field)

test('fromValidationErrors gives INVALID_INPUT, not retryable', (t) => {
  const e = problems({ connection_string: 5 })
  t.is(err.codeOf(e), 'INVALID_INPUT')
  t.false(err.isRetryable(e))
  t.regex(e.message, /^Invalid arguments\. /)
})

test('fromValidationErrors names a wrong type with what was expected and what came', (t) => {
  const e = problems({ connection_string: 'mqtt://h', qos: 3 })
  t.deepEqual(e.fields, [{ field: 'qos', expected: 'one of 0, 1, 2', got: '3' }])
  t.regex(e.message, /qos: expected one of 0, 1, 2, got 3/)
})

test('fromValidationErrors names an out-of-range integer with its range', (t) => {
  const e = problems({ connection_string: 'mqtt://h', keepalive_seconds: 70000 })
  t.deepEqual(fieldsOf({ connection_string: 'mqtt://h', keepalive_seconds: 1.5 }), ['keepalive_seconds'])
  t.regex(e.message, /keepalive_seconds: expected an integer from 0 to 65535, got 70000/)
})

test('fromValidationErrors gives nested fields a dotted path', (t) => {
  const e = problems({ connection_string: 'mqtt://h', tls: { ca: 5 } })
  t.deepEqual(e.fields.map((f) => f.field), ['tls.ca'])
  t.regex(e.message, /tls\.ca: /)
  t.regex(e.message, /got 5/)
})

test('fromValidationErrors puts array indices in the path', (t) => {
  t.deepEqual(fieldsOf({ connection_string: 'mqtt://h', topics: ['ok', '', 'fine', 7] }), ['topics.1', 'topics.3'])
  t.deepEqual(fieldsOf({ connection_string: 'mqtt://h', tls: { alpn: ['mqtt', 3] } }), ['tls.alpn.1'])
})

test('fromValidationErrors calls an unknown field an unknown field and lists the allowed ones', (t) => {
  const e = problems({ connection_string: 'mqtt://h', colour: 'red' })
  t.deepEqual(e.fields.map((f) => f.field), ['colour'])
  t.regex(e.message, /colour: unknown field/)
  t.regex(e.message, /connection_string, qos, keepalive_seconds/)
})

test('fromValidationErrors finds unknown fields in nested objects', (t) => {
  const e = problems({ connection_string: 'mqtt://h', tls: { cafile: '/etc/ca.pem' } })
  t.deepEqual(e.fields.map((f) => f.field), ['tls.cafile'])
  t.regex(e.message, /tls\.cafile: unknown field \(allowed fields are ca, passphrase, alpn\)/)
})

test('fromValidationErrors reports a missing required field as missing', (t) => {
  const e = problems({})
  t.deepEqual(e.fields.map((f) => f.field), ['connection_string'])
  t.regex(e.message, /connection_string: /)
  t.regex(e.message, /a non-empty string|a string/)
  t.is(e.fields[0]?.got, 'nothing')
})

test('fromValidationErrors skips union members in the path', (t) => {
  const e = problems({ connection_string: 'mqtt://h', value: 'x' })
  t.deepEqual(e.fields.map((f) => f.field), ['value'])
  t.notRegex(e.message, /value\.\d/)
})

test('fromValidationErrors names every bad field once, in order', (t) => {
  const e = problems({ connection_string: '', qos: 'high', tls: { ca: '' }, extra: 1 })
  t.deepEqual(e.fields.map((f) => f.field), ['connection_string', 'qos', 'tls.ca', 'extra'])
  t.is(e.message.split('; ').length, 4)
})

test('fromValidationErrors says what the arguments should be when they are not an object', (t) => {
  for (const u of [null, 5, 'x', []]) {
    const e = problems(u)
    t.deepEqual(e.fields.map((f) => f.field), ['(arguments)'])
    t.regex(e.message, /arguments: expected an object/)
  }
})

test('fromValidationErrors shortens a long bad value', (t) => {
  const e = problems({ connection_string: 'x'.repeat(500) })
  const got = e.fields[0]?.got ?? ''
  t.true(got.length <= 60, got)
  t.true(got.endsWith('...'))
  t.true(e.message.length < 300)
})

test('fromValidationErrors never echoes a bad password or passphrase value', (t) => {
  const e = problems({ connection_string: 'mqtt://h', password: 'canary-pass-'.repeat(4), tls: { passphrase: 'canary-phrase-1234' } })
  t.deepEqual(e.fields.map((f) => f.field), ['password', 'tls.passphrase'])
  t.false(JSON.stringify(e).includes('canary'), e.message)
})

test('fromValidationErrors never echoes the password of a bad connection string', (t) => {
  const e = problems({ connection_string: `mqtt://user:canary-pass@${'h'.repeat(120)}` })
  t.deepEqual(e.fields.map((f) => f.field), ['connection_string'])
  t.false(JSON.stringify(e).includes('canary-pass'), e.message)
})
