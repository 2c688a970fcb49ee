import { isUtf8 } from 'node:buffer'
import test from 'ava'
import fc from 'fast-check'
import { compactJsonPrefix, jsonKindOf, utf8PrefixEnd } from '../../src/mqtt/json-scan.js'

/** UTF-16 units of the first code points of `s` that fit in `maxUnits`: a pair is never split. */
const unitPrefix = (s: string, maxUnits: number): string => {
  let out = ''
  for (const ch of s) {
    if (out.length + ch.length > maxUnits) break
    out += ch
  }
  return out
}

test('jsonKindOf calls bytes json or number exactly when JSON.parse accepts them', (t) => {
  // the scanner is only asked about valid UTF-8 (a string's bytes always are)
  const expected = (buf: Buffer): 'json' | 'number' | undefined => {
    if (!isUtf8(buf)) throw new Error('not UTF-8')
    try {
      return typeof JSON.parse(buf.toString('utf8')) === 'number' ? 'number' : 'json'
    } catch {
      return undefined
    }
  }
  const cases = [
    '{}', '[]', ' [ ] ', '{"a":1}', '{"a":[1,{"b":null}],"c":"\\u00e9\\n"}', '"x"', '""', '0', '-0', '12.5e-3', '1E+2', 'true', 'false', 'null',
    '{"a":1,}', '[1,]', '{"a"}', '{"a":}', '{1:2}', '01', '1.', '.5', '-', '1e', '+1', 'tru', 'nul', 'true false', '"a', '"\\x"', '"\\u12g4"',
    '"tab\there"', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    '[1]]', '{"a":1}}', '\ufeff{}', '{"é":"ü"}', 'NaN', 'Infinity', '1e400', '\n', ' ', '', 'hello',
  ]
  for (const c of cases) t.is(jsonKindOf(Buffer.from(c)), expected(Buffer.from(c)), c)
  // nesting deeper than the scanner's first stack: it grows, and stays grown for the next scan
  t.is(jsonKindOf(Buffer.from('['.repeat(100_000) + ']'.repeat(100_000))), 'json')
  t.is(jsonKindOf(Buffer.from('['.repeat(100_000) + ']'.repeat(99_999))), undefined)
  t.is(jsonKindOf(Buffer.from('[{"a":[1]}]')), 'json')
  // JSON texts, with whitespace between tokens, and the same cut or changed at one byte
  const text = fc.oneof(
    fc.json(),
    fc.json().map((j) => j.replace(/([,:[\]{}])/g, (m) => [' ', '\n', '\t', '\r', ''][m.charCodeAt(0) % 5]! + m)),
    fc.tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', ']', '}', '"', '\\', ' ', 'e', '.', '-', '0', 'x')).map(([j, at, x]) => {
      const i = at % (j.length + 1)
      return j.slice(0, i) + x + j.slice(i + 1)
    }),
    fc.string({ maxLength: 30 }),
  )
  fc.assert(fc.property(text, (x) => jsonKindOf(Buffer.from(x)) === expected(Buffer.from(x))), { numRuns: 3000 })
})

test('utf8PrefixEnd ends after at most maxUnits UTF-16 units, never inside a character', (t) => {
  t.is(utf8PrefixEnd(Buffer.from('abcd😀ef'), 5), 4)
  t.is(utf8PrefixEnd(Buffer.from('abcd😀ef'), 6), 8)
  t.is(utf8PrefixEnd(Buffer.from('éü'), 1), 2)
  t.is(utf8PrefixEnd(Buffer.from('abc'), 0), 0)
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.nat({ max: 50 }), (s, maxUnits) => {
      // a lone surrogate becomes U+FFFD in UTF-8: the prefix is of what the bytes decode to
      const buf = Buffer.from(s)
      const text = buf.toString('utf8')
      return buf.subarray(0, utf8PrefixEnd(buf, maxUnits)).toString('utf8') === unitPrefix(text, maxUnits)
    }),
    { numRuns: 2000 },
  )
})

test('compactJsonPrefix writes a JSON payload without whitespace between tokens, cut after maxUnits UTF-16 units', (t) => {
  const compact = (text: string, maxUnits: number, at = 0): string => {
    const into = Buffer.alloc(at + Buffer.byteLength(text))
    const n = compactJsonPrefix(Buffer.from(text), maxUnits, into, at)
    return into.toString('utf8', at, at + n)
  }
  t.is(compact('{ "on": true,\n  "level": 3, "name": "a b" }', 80), '{"on":true,"level":3,"name":"a b"}')
  // the payload's own spelling of numbers and escapes is kept
  t.is(compact(' [1E+2, "\\u00e9\\" x"]\r\n', 80, 7), '[1E+2,"\\u00e9\\" x"]')
  t.is(compact('{ "k": "😀😀😀" }', 5), '{"k":')
  t.is(compact('{ "k": "😀😀😀" }', 7), '{"k":"')
  t.is(compact('{ "k": "😀😀😀" }', 8), '{"k":"😀')
  // pretty-printed JSON compacts back to JSON.stringify's spelling, and every cut is a prefix of that
  const spacing = fc.constantFrom<string | number>(0, 1, 2, '\t', ' \n ')
  fc.assert(
    fc.property(fc.jsonValue(), spacing, fc.nat({ max: 120 }), fc.nat({ max: 64 }), (value, space, maxUnits, at) => {
      const text = JSON.stringify(value, null, space)
      const whole = JSON.stringify(value)
      return compact(text, Infinity, at) === whole && compact(text, maxUnits, at) === unitPrefix(whole, maxUnits)
    }),
    { numRuns: 2000 },
  )
})
