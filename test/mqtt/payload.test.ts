import test from 'ava'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import { classifyPayload, encodePayload, mayBeJson, showPayload, type PayloadKind, type ShownPayload } from '../../src/mqtt/payload.js'

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8')
const bytes = (...b: number[]): Buffer => Buffer.from(b)

const rightOf = (r: E.Either<string, Buffer>): Buffer => {
  if (E.isLeft(r)) throw new Error(`expected Right, got Left(${r.left})`)
  return r.right
}
const leftOf = (r: E.Either<string, Buffer>): string => (E.isLeft(r) ? r.left : `Right(<${r.right.toString('hex')}>)`)

const isPrefix = (prefix: Buffer, of: Buffer): boolean => prefix.length <= of.length && prefix.equals(of.subarray(0, prefix.length))

const BIG = 1 << 20

// encodePayload: utf8

test('encodePayload › utf8 sends the string as its UTF-8 bytes, multi-byte characters included', (t) => {
  t.deepEqual(rightOf(encodePayload('on', 'utf8')), utf8('on'))
  t.deepEqual(rightOf(encodePayload('Grüße 😀', 'utf8')), bytes(0x47, 0x72, 0xc3, 0xbc, 0xc3, 0x9f, 0x65, 0x20, 0xf0, 0x9f, 0x98, 0x80))
  t.deepEqual(rightOf(encodePayload('', 'utf8')), Buffer.alloc(0))
})

test('encodePayload › utf8 accepts text that is not JSON', (t) => {
  t.deepEqual(rightOf(encodePayload('{not json', 'utf8')), utf8('{not json'))
})

// encodePayload: json

test('encodePayload › json accepts any JSON value and sends the text as written, not re-serialised', (t) => {
  for (const text of ['{ "a": 1,  "b": [true, null] }', '[]', '42', '-0.5e3', '"hi"', 'true', 'null', '  {"x":"ü"}\n']) {
    t.deepEqual(rightOf(encodePayload(text, 'json')), utf8(text), text)
  }
})

test('encodePayload › json rejects invalid JSON with the parser message and a hint to use utf8', (t) => {
  for (const text of ['{a:1}', '{"a":1', '', 'hello', "{'a':1}", '[1,]', 'True']) {
    const reason = leftOf(encodePayload(text, 'json'))
    t.regex(reason, /^payload is not valid JSON \(.+\)/, text)
    t.regex(reason, /payload_encoding "utf8"/, text)
  }
})

// encodePayload: base64

test('encodePayload › base64 decodes padded base64 to the exact bytes', (t) => {
  t.deepEqual(rightOf(encodePayload('aGVsbG8=', 'base64')), utf8('hello'))
  t.deepEqual(rightOf(encodePayload('AAEC/w==', 'base64')), bytes(0, 1, 2, 255))
  t.deepEqual(rightOf(encodePayload('+/+/', 'base64')), bytes(0xfb, 0xff, 0xbf))
  t.deepEqual(rightOf(encodePayload('', 'base64')), Buffer.alloc(0))
})

test('encodePayload › base64 ignores whitespace such as line breaks from MIME-style wrapping', (t) => {
  for (const text of ['aGVs\nbG8=', ' aGVsbG8= ', 'aGVs\r\nbG8=\n', 'aG\tVs bG8=']) {
    t.deepEqual(rightOf(encodePayload(text, 'base64')), utf8('hello'), JSON.stringify(text))
  }
})

test('encodePayload › base64 rejects missing padding, foreign characters and base64url', (t) => {
  for (const text of ['aGVsbG8', 'a', 'aGVsbG8*', 'aG=sbG8=', 'aGVsbG8===', '-_-_', 'héllo===']) {
    t.is(leftOf(encodePayload(text, 'base64')), 'payload is not valid base64 (A-Z, a-z, 0-9, +, / with = padding)', text)
  }
})

// encodePayload: hex

test('encodePayload › hex decodes pairs of digits in either case', (t) => {
  t.deepEqual(rightOf(encodePayload('00ff10Ab', 'hex')), bytes(0x00, 0xff, 0x10, 0xab))
  t.deepEqual(rightOf(encodePayload('00 ff\n10', 'hex')), bytes(0x00, 0xff, 0x10))
  t.deepEqual(rightOf(encodePayload('', 'hex')), Buffer.alloc(0))
})

test('encodePayload › hex rejects an odd number of digits instead of dropping the last one', (t) => {
  for (const text of ['abc', '0', '00 ff 1']) {
    t.is(leftOf(encodePayload(text, 'hex')), 'payload is not valid hex (an even number of 0-9, a-f digits)', text)
  }
})

test('encodePayload › hex rejects characters that are not hex digits, including a 0x prefix', (t) => {
  for (const text of ['zz', '0x10', 'g0', '12-34']) {
    t.regex(leftOf(encodePayload(text, 'hex')), /not valid hex/, text)
  }
})

test('encodePayload › base64 and hex give back any bytes they were made from', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (arr) => {
      const buf = Buffer.from(arr)
      return rightOf(encodePayload(buf.toString('base64'), 'base64')).equals(buf) && rightOf(encodePayload(buf.toString('hex'), 'hex')).equals(buf)
    }),
  )
  t.pass()
})

// showPayload

test('showPayload › shows an empty payload as empty text', (t) => {
  t.deepEqual(showPayload(Buffer.alloc(0), 100), { payload: '', encoding: 'text', kind: 'empty', size_bytes: 0, truncated: false })
  t.deepEqual(showPayload(Buffer.alloc(0), 0), { payload: '', encoding: 'text', kind: 'empty', size_bytes: 0, truncated: false })
})

test('showPayload › shows a JSON object as parsed JSON', (t) => {
  const text = '{"temp":21.5,"ok":true,"tags":["a",null],"name":"Küche"}'
  t.deepEqual(showPayload(utf8(text), 1000), {
    payload: { temp: 21.5, ok: true, tags: ['a', null], name: 'Küche' },
    encoding: 'json',
    kind: 'json',
    size_bytes: Buffer.byteLength(text),
    truncated: false,
  })
})

test('showPayload › shows a JSON number as a number of kind number', (t) => {
  t.deepEqual(showPayload(utf8('42'), 100), { payload: 42, encoding: 'json', kind: 'number', size_bytes: 2, truncated: false })
  t.deepEqual(showPayload(utf8(' -3.5e2\n'), 100), { payload: -350, encoding: 'json', kind: 'number', size_bytes: 8, truncated: false })
})

test('showPayload › shows other JSON scalars as JSON of kind json', (t) => {
  t.deepEqual(showPayload(utf8('"on"'), 100), { payload: 'on', encoding: 'json', kind: 'json', size_bytes: 4, truncated: false })
  t.deepEqual(showPayload(utf8('true'), 100), { payload: true, encoding: 'json', kind: 'json', size_bytes: 4, truncated: false })
  t.deepEqual(showPayload(utf8('null'), 100), { payload: null, encoding: 'json', kind: 'json', size_bytes: 4, truncated: false })
})

test('showPayload › shows text that only starts like JSON as text', (t) => {
  for (const text of ['"true story" text', '1st floor', 'nullable', 'true story', 'falsehood', '-', '[draft] notes', '{broken', '  42 apples']) {
    t.deepEqual(
      showPayload(utf8(text), 100),
      { payload: text, encoding: 'text', kind: 'text', size_bytes: Buffer.byteLength(text), truncated: false },
      text,
    )
  }
})

test('showPayload › shows multi-byte UTF-8 text whole and counts its bytes', (t) => {
  const text = 'Grüße aus der Küche: 21 °C, 温度, 😀'
  const shown = showPayload(utf8(text), 1000)
  t.deepEqual(shown, { payload: text, encoding: 'text', kind: 'text', size_bytes: Buffer.byteLength(text), truncated: false })
  t.true(shown.size_bytes > text.length)
})

test('showPayload › keeps a leading byte order mark in text rather than dropping it silently', (t) => {
  const buf = Buffer.concat([bytes(0xef, 0xbb, 0xbf), utf8('hello')])
  t.deepEqual(showPayload(buf, 100), { payload: '\uFEFFhello', encoding: 'text', kind: 'text', size_bytes: 8, truncated: false })
  t.deepEqual(showPayload(buf, 5), { payload: '\uFEFFhe', encoding: 'text', kind: 'text', size_bytes: 8, truncated: true })
})

test('showPayload › shows bytes that are not valid UTF-8 as base64 with their exact size', (t) => {
  t.deepEqual(showPayload(bytes(0xff, 0xfe, 0x00, 0x80), 100), {
    payload: '//4AgA==',
    encoding: 'base64',
    kind: 'binary',
    size_bytes: 4,
    truncated: false,
  })
})

test('showPayload › never decodes invalid UTF-8 lossily, whatever makes it invalid', (t) => {
  const cases: Record<string, Buffer> = {
    'lone continuation byte': bytes(0x61, 0x80, 0x62),
    'overlong NUL': bytes(0xc0, 0x80),
    'encoded surrogate': bytes(0xed, 0xa0, 0x80),
    'sequence cut short at the end': bytes(0x61, 0xe2, 0x82),
    'code point above U+10FFFF': bytes(0xf4, 0x90, 0x80, 0x80),
    'JSON-looking string with a bad byte': bytes(0x22, 0xff, 0x22),
    'JSON-looking object with a bad byte': Buffer.concat([utf8('{"a":"'), bytes(0xc3), utf8('"}')]),
  }
  for (const [name, buf] of Object.entries(cases)) {
    t.deepEqual(
      showPayload(buf, 100),
      { payload: buf.toString('base64'), encoding: 'base64', kind: 'binary', size_bytes: buf.length, truncated: false },
      name,
    )
  }
})

test('showPayload › cuts text at maxBytes without splitting a multi-byte character', (t) => {
  const buf = utf8('€€€') // 3 bytes each
  for (let max = 0; max < 9; max++) {
    const shown = showPayload(buf, max)
    t.deepEqual(shown, { payload: '€'.repeat(Math.floor(max / 3)), encoding: 'text', kind: 'text', size_bytes: 9, truncated: true }, `maxBytes ${max}`)
  }
  t.deepEqual(showPayload(buf, 9), { payload: '€€€', encoding: 'text', kind: 'text', size_bytes: 9, truncated: false })
})

test('showPayload › cuts before a four-byte character it cannot show whole', (t) => {
  const buf = utf8('ab😀c')
  for (const max of [2, 3, 4, 5]) t.is(showPayload(buf, max).payload, 'ab', `maxBytes ${max}`)
  t.is(showPayload(buf, 6).payload, 'ab😀')
  t.false(showPayload(buf, 7).truncated)
})

test('showPayload › shows an oversize JSON document as cut text of kind json', (t) => {
  const text = '{"name":"Grüße","values":[1,2,3]}'
  // '{"name":"Gr' is 11 bytes; 'ü' takes bytes 11 and 12
  t.deepEqual(showPayload(utf8(text), 12), {
    payload: '{"name":"Gr',
    encoding: 'text',
    kind: 'json',
    size_bytes: Buffer.byteLength(text),
    truncated: true,
  })
  t.deepEqual(showPayload(utf8(text), 13), {
    payload: '{"name":"Grü',
    encoding: 'text',
    kind: 'json',
    size_bytes: Buffer.byteLength(text),
    truncated: true,
  })
})

test('showPayload › shows a JSON document of exactly maxBytes as JSON', (t) => {
  const text = '{"a":[1,2]}'
  t.deepEqual(showPayload(utf8(text), text.length), { payload: { a: [1, 2] }, encoding: 'json', kind: 'json', size_bytes: text.length, truncated: false })
})

test('showPayload › shows an oversize JSON number as cut text and keeps kind number', (t) => {
  t.deepEqual(showPayload(utf8('123456'), 3), { payload: '123', encoding: 'text', kind: 'number', size_bytes: 6, truncated: true })
})

test('showPayload › cuts binary payloads at maxBytes and reports the full size', (t) => {
  const buf = bytes(0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08)
  t.deepEqual(showPayload(buf, 4), { payload: bytes(0xff, 0x00, 0x01, 0x02).toString('base64'), encoding: 'base64', kind: 'binary', size_bytes: 10, truncated: true })
  t.deepEqual(showPayload(buf, 0), { payload: '', encoding: 'base64', kind: 'binary', size_bytes: 10, truncated: true })
  t.deepEqual(showPayload(buf, 10), { payload: buf.toString('base64'), encoding: 'base64', kind: 'binary', size_bytes: 10, truncated: false })
})

test('showPayload › judges UTF-8 validity on the whole payload, not on the part shown', (t) => {
  // valid text for the first 4 bytes, invalid after: the payload is binary, shown as base64
  const buf = Buffer.concat([utf8('abcd'), bytes(0xff)])
  t.deepEqual(showPayload(buf, 4), { payload: utf8('abcd').toString('base64'), encoding: 'base64', kind: 'binary', size_bytes: 5, truncated: true })
})

// classifyPayload

test('classifyPayload › tells empty, JSON, number, text and binary apart', (t) => {
  const cases: [Buffer, PayloadKind][] = [
    [Buffer.alloc(0), 'empty'],
    [utf8('{"a":1}'), 'json'],
    [utf8('[1,2]'), 'json'],
    [utf8('"on"'), 'json'],
    [utf8('true'), 'json'],
    [utf8('null'), 'json'],
    [utf8('42'), 'number'],
    [utf8(' -1.5e3 \n'), 'number'],
    [utf8('hello'), 'text'],
    [utf8('1st floor'), 'text'],
    [utf8('nullable'), 'text'],
    [utf8('Küche 😀'), 'text'],
    [utf8(' '), 'text'],
    [bytes(0xff, 0x00), 'binary'],
    [bytes(0x00, 0x01, 0x02), 'text'],
  ]
  for (const [buf, kind] of cases) t.is(classifyPayload(buf), kind, JSON.stringify(buf.toString('latin1')))
})

test('classifyPayload › calls invalid UTF-8 binary even when it would parse as JSON after a lossy decode', (t) => {
  t.is(classifyPayload(bytes(0x22, 0xff, 0x22)), 'binary')
  t.is(classifyPayload(Buffer.concat([utf8('{"a":"'), bytes(0xc3), utf8('"}')])), 'binary')
})

// mayBeJson

test('mayBeJson › skips leading spaces, tabs and line breaks before the first byte', (t) => {
  t.true(mayBeJson(utf8(' \t\r\n{"a":1}')))
  t.true(mayBeJson(utf8('\n\n  [1]')))
  t.true(mayBeJson(utf8('   42')))
  t.false(mayBeJson(utf8(' \t hello')))
})

test('mayBeJson › accepts every byte that can start a JSON value', (t) => {
  for (const start of ['{', '[', '"', '-', '0', '5', '9', 't', 'f', 'n']) t.true(mayBeJson(utf8(start)), start)
})

test('mayBeJson › rejects empty and blank payloads, other letters and whitespace JSON does not allow', (t) => {
  for (const text of ['', '   ', '\r\n', 'hello', 'T', '+1', '.5', '\u00a0{}', '\f{}', '\v{}', '\uFEFF{}']) {
    t.false(mayBeJson(utf8(text)), JSON.stringify(text))
  }
})

// properties

/** Random bytes are almost never valid UTF-8, so mix in text, JSON, and text with a bad byte or a BOM. */
const payloadArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'grapheme', maxLength: 24 }).map(utf8),
  fc.string({ unit: 'binary', maxLength: 24 }).map(utf8),
  fc.json({ maxDepth: 2 }).map(utf8),
  fc
    .tuple(fc.string({ unit: 'grapheme', maxLength: 16 }), fc.integer({ min: 0x80, max: 0xff }), fc.string({ maxLength: 8 }))
    .map(([a, b, c]) => Buffer.concat([utf8(a), bytes(b), utf8(c)])),
  fc.json({ maxDepth: 1 }).map((s) => Buffer.concat([bytes(0xef, 0xbb, 0xbf), utf8(s)])),
)

const checkShown = (buf: Buffer, maxBytes: number, shown: ShownPayload): boolean => {
  if (shown.size_bytes !== buf.length) return false
  if (shown.truncated !== buf.length > maxBytes) return false
  if (shown.kind !== classifyPayload(buf)) return false
  switch (shown.encoding) {
    case 'base64':
      return typeof shown.payload === 'string' && Buffer.from(shown.payload, 'base64').equals(buf.subarray(0, maxBytes)) && shown.kind === 'binary'
    case 'text': {
      if (typeof shown.payload !== 'string') return false
      const out = utf8(shown.payload)
      if (!isPrefix(out, buf)) return false
      // whole when not cut; when cut, at most maxBytes and short of it by less than one character
      return shown.truncated ? out.length <= maxBytes && out.length > maxBytes - 4 : out.equals(buf)
    }
    case 'json':
      return !shown.truncated && buf.length <= maxBytes
  }
}

test('showPayload › never throws, reports the full size, and shows only a true prefix of the bytes', (t) => {
  fc.assert(
    fc.property(payloadArb, fc.nat({ max: 64 }), (buf, maxBytes) => {
      const shown = showPayload(buf, maxBytes)
      return checkShown(buf, maxBytes, shown)
    }),
    { numRuns: 2000 },
  )
  t.pass()
})

test('showPayload › shows any valid UTF-8 text in full when it fits, as text or JSON', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (s) => {
      const shown = showPayload(utf8(s), BIG)
      return !shown.truncated && (shown.encoding === 'json' || (shown.encoding === 'text' && shown.payload === s))
    }),
  )
  t.pass()
})
