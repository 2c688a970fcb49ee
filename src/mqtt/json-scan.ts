/**
 * Byte-level scanning of payloads that are already known to be valid UTF-8: whether the bytes are one JSON text and
 * of which kind (`jsonKindOf`), and the short prefix of a payload kept as a sample (`compactJsonPrefix`,
 * `utf8PrefixEnd`). Topic discovery calls these for every message, so they work on the Buffer as it arrived:
 * JSON.parse would decode the payload and build its whole value only for it to be dropped, and that garbage would
 * be most of what discovery allocates per message. Nothing here allocates per call: the scanner's stack of open
 * containers is kept between calls and only grows, once, for nesting deeper than 64.
 *
 * Callers check `isUtf8` first (and `mayBeJson` from ./payload.ts, the few-ns first-byte check, before
 * `jsonKindOf`): JSON's structural bytes are ASCII, so on valid UTF-8 a multi-byte character never looks like one.
 */

// -------------------------------------------------------------------------------------
// JSON kind
// -------------------------------------------------------------------------------------

/**
 * `number` for a JSON number, `json` for any other JSON text, undefined when the bytes (valid UTF-8) are not one
 * JSON text: what JSON.parse would accept (RFC 8259).
 */
export function jsonKindOf(buf: Buffer): 'json' | 'number' | undefined {
  const n = buf.length
  let i = skipSpace(buf, 0)
  const number = buf[i] === MINUS || isDigit(buf[i])
  // open containers, innermost last: 1 for an object, 0 for an array
  let depth = 0
  for (;;) {
    // a value starts at i
    const b = buf[i]
    if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      i = skipSpace(buf, i + 1)
      if (buf[i] === (b === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++
      } else {
        if (depth === nesting.length) nesting = growNesting(nesting)
        nesting[depth++] = b === OPEN_OBJECT ? 1 : 0
        if (b === OPEN_OBJECT) {
          i = memberValue(buf, i)
          if (i < 0) return undefined
        }
        continue
      }
    } else if (b === QUOTE) {
      i = stringEnd(buf, i)
    } else if (b === MINUS || isDigit(b)) {
      i = numberEnd(buf, i)
    } else {
      i = literalEnd(buf, i)
    }
    if (i < 0) return undefined
    // after a value: close containers, or go on to the next element or member
    for (;;) {
      i = skipSpace(buf, i)
      if (depth === 0) return i === n ? (number ? 'number' : 'json') : undefined
      const inObject = nesting[depth - 1] === 1
      if (buf[i] === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        depth--
        i++
        continue
      }
      if (buf[i] !== COMMA) return undefined
      i = skipSpace(buf, i + 1)
      if (inObject) i = memberValue(buf, i)
      if (i < 0) return undefined
      break
    }
  }
}

const QUOTE = 0x22
const COMMA = 0x2c
const MINUS = 0x2d
const COLON = 0x3a
const OPEN_ARRAY = 0x5b
const BACKSLASH = 0x5c
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d

/** Open containers of `jsonKindOf`, kept between calls so that a scan allocates nothing. */
let nesting: Uint8Array = new Uint8Array(64)
const growNesting = (a: Uint8Array): Uint8Array => {
  const bigger = new Uint8Array(a.length * 2)
  bigger.set(a)
  return bigger
}

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39
const isHex = (b: number | undefined): boolean => b !== undefined && (isDigit(b) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66))

function skipSpace(buf: Buffer, i: number): number {
  for (let b = buf[i]; b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d; b = buf[++i]);
  return i
}

/** From a member's key (at i) past its colon to where its value starts; -1 when that is not a member. */
function memberValue(buf: Buffer, i: number): number {
  if (buf[i] !== QUOTE) return -1
  i = stringEnd(buf, i)
  if (i < 0) return -1
  i = skipSpace(buf, i)
  return buf[i] === COLON ? skipSpace(buf, i + 1) : -1
}

/** The end of the string that starts at i (a quote), or -1. */
function stringEnd(buf: Buffer, i: number): number {
  for (i++; i < buf.length; i++) {
    const b = buf[i]!
    if (b === QUOTE) return i + 1
    if (b < 0x20) return -1
    if (b !== BACKSLASH) continue
    const e = buf[++i]
    if (e === 0x75) {
      // \uXXXX
      if (!(isHex(buf[i + 1]) && isHex(buf[i + 2]) && isHex(buf[i + 3]) && isHex(buf[i + 4]))) return -1
      i += 4
    } else if (!(e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74)) {
      return -1
    }
  }
  return -1
}

/** The end of the number that starts at i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, or -1. */
function numberEnd(buf: Buffer, i: number): number {
  if (buf[i] === MINUS) i++
  if (buf[i] === 0x30) i++
  else if (isDigit(buf[i])) while (isDigit(buf[i])) i++
  else return -1
  if (buf[i] === 0x2e) {
    if (!isDigit(buf[++i])) return -1
    while (isDigit(buf[i])) i++
  }
  if (buf[i] === 0x65 || buf[i] === 0x45) {
    i++
    if (buf[i] === 0x2b || buf[i] === MINUS) i++
    if (!isDigit(buf[i])) return -1
    while (isDigit(buf[i])) i++
  }
  return i
}

const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')]

/** The end of true, false or null at i, or -1. */
function literalEnd(buf: Buffer, i: number): number {
  for (const word of LITERALS) {
    if (buf[i] === word[0] && buf.length - i >= word.length && buf.compare(word, 0, word.length, i, i + word.length) === 0) return i + word.length
  }
  return -1
}

// -------------------------------------------------------------------------------------
// prefixes
// -------------------------------------------------------------------------------------

/** UTF-16 units a UTF-8 lead byte starts: 4-byte sequences are astral, two units in JS. */
const unitsOf = (lead: number): number => (lead >= 0xf0 ? 2 : 1)
const isContinuation = (b: number): boolean => (b & 0xc0) === 0x80

/** Where the first `maxUnits` UTF-16 units of valid UTF-8 end, in bytes. */
export function utf8PrefixEnd(buf: Buffer, maxUnits: number): number {
  if (buf.length <= maxUnits) return buf.length
  let units = 0
  let end = 0
  while (end < buf.length) {
    const u = unitsOf(buf[end]!)
    if (units + u > maxUnits) break
    units += u
    end++
    while (end < buf.length && isContinuation(buf[end]!)) end++
  }
  return end
}

/**
 * Writes the first `maxUnits` UTF-16 units of a valid JSON payload, with the whitespace between tokens removed,
 * to `into` at `at`; returns the bytes written. Works on bytes (JSON's structural bytes are ASCII, so multi-byte
 * characters never look like them) and keeps the payload's own spelling of numbers and escapes.
 */
export function compactJsonPrefix(buf: Buffer, maxUnits: number, into: Buffer, at: number): number {
  let n = 0
  let units = 0
  let inString = false
  let escaped = false
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if (!inString && (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) continue
    if (!isContinuation(b)) {
      const u = unitsOf(b)
      if (units + u > maxUnits) break
      units += u
    }
    into[at + n++] = b
    if (inString) {
      if (escaped) escaped = false
      else if (b === 0x5c) escaped = true
      else if (b === 0x22) inString = false
    } else if (b === 0x22) inString = true
  }
  return n
}
