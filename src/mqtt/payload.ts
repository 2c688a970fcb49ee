/**
 * Payload encoding for publishing and decoding for showing, shared by every tool. Decoding never does a
 * lossy UTF-8 decode: bytes that are not valid UTF-8 are shown as base64 with their size.
 */
import * as E from 'fp-ts/lib/Either.js'

export type PayloadEncoding = 'utf8' | 'json' | 'base64' | 'hex'
/** What a payload looks like, for trees and summaries. */
export type PayloadKind = 'json' | 'text' | 'number' | 'binary' | 'empty'

/** A payload as shown to the model: JSON as JSON, text as text, anything else as base64. */
export interface ShownPayload {
  readonly payload: unknown
  readonly encoding: 'json' | 'text' | 'base64'
  readonly kind: PayloadKind
  /** The full size of the payload on the wire, in bytes. */
  readonly size_bytes: number
  /** True when `payload` shows only the first `maxBytes` bytes. */
  readonly truncated: boolean
}

// ignoreBOM keeps a leading U+FEFF in the text instead of silently dropping three bytes of the payload
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const HEX = /^(?:[0-9a-fA-F]{2})*$/

/** Turns the tool's payload string into bytes; Left names what is wrong with it. */
export function encodePayload(payload: string, encoding: PayloadEncoding): E.Either<string, Buffer> {
  switch (encoding) {
    case 'utf8':
      return E.right(Buffer.from(payload, 'utf8'))
    case 'json':
      try {
        JSON.parse(payload)
        return E.right(Buffer.from(payload, 'utf8'))
      } catch (e) {
        return E.left(`payload is not valid JSON (${(e as Error).message}); send it with payload_encoding "utf8" if it is plain text`)
      }
    case 'base64': {
      const compact = payload.replace(/\s+/g, '')
      return BASE64.test(compact) ? E.right(Buffer.from(compact, 'base64')) : E.left('payload is not valid base64 (A-Z, a-z, 0-9, +, / with = padding)')
    }
    case 'hex': {
      const compact = payload.replace(/\s+/g, '')
      return HEX.test(compact) ? E.right(Buffer.from(compact, 'hex')) : E.left('payload is not valid hex (an even number of 0-9, a-f digits)')
    }
  }
}

/** True when the first non-space byte could start a JSON value: checked before JSON.parse, which is slow when it throws. */
export function mayBeJson(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue
    // { [ " - 0-9 t f n
    return b === 0x7b || b === 0x5b || b === 0x22 || b === 0x2d || (b >= 0x30 && b <= 0x39) || b === 0x74 || b === 0x66 || b === 0x6e
  }
  return false
}

/**
 * The kind of a UTF-8 payload known only by its head (`Message.cut`): a cut object or array is no longer JSON
 * text, so its opening byte decides.
 */
export function headKind(head: Buffer): 'json' | 'text' {
  for (let i = 0; i < head.length; i++) {
    const b = head[i]!
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue
    return b === 0x7b || b === 0x5b ? 'json' : 'text'
  }
  return 'text'
}

/** Parses a JSON payload, or undefined when it is not JSON (cheap for text: byte check first). */
export function parseJson(buf: Buffer): { value: unknown } | undefined {
  if (!mayBeJson(buf)) return undefined
  // strict decode: bytes that are not UTF-8 are not JSON (a lossy toString would turn them into U+FFFD and parse)
  const text = utf8OrUndefined(buf)
  return text === undefined ? undefined : tryParse(text)
}

/** Decodes as strict UTF-8, or undefined when the bytes are not valid UTF-8. */
export function utf8OrUndefined(buf: Buffer): string | undefined {
  try {
    return strictUtf8.decode(buf)
  } catch {
    return undefined
  }
}

/** The kind of a payload: a JSON number counts as `number`, other JSON as `json`. */
export function classifyPayload(buf: Buffer): PayloadKind {
  if (buf.length === 0) return 'empty'
  const json = parseJson(buf)
  if (json !== undefined) return typeof json.value === 'number' ? 'number' : 'json'
  return utf8OrUndefined(buf) === undefined ? 'binary' : 'text'
}

/** Cuts a UTF-8 string to at most `maxBytes` bytes without splitting a character. */
function cutUtf8(buf: Buffer, maxBytes: number): string {
  let end = Math.min(maxBytes, buf.length)
  // step back over continuation bytes (10xxxxxx) so no character is split
  while (end > 0 && end < buf.length && (buf[end]! & 0xc0) === 0x80) end--
  return buf.subarray(0, end).toString('utf8')
}

/**
 * The first `maxBytes` bytes of `buf` as a copy (cut before a character when `utf8`), or `buf` itself when it is
 * no longer. A copy, because a view would keep the whole payload's memory alive.
 */
export function payloadHead(buf: Buffer, maxBytes: number, utf8: boolean): Buffer {
  if (buf.length <= maxBytes) return buf
  let end = maxBytes
  if (utf8) while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--
  return Buffer.from(buf.subarray(0, end))
}

/**
 * Decodes a payload for the model, showing at most `maxBytes` bytes of it. `cut` says `buf` is the head of a
 * longer payload (see `Message.cut`): it is then shown exactly as the whole payload would be.
 */
export function showPayload(buf: Buffer, maxBytes: number, cut?: { readonly sizeBytes: number; readonly utf8: boolean }): ShownPayload {
  if (cut !== undefined && cut.sizeBytes > buf.length) {
    // a cut JSON document is not JSON any more: the whole one would be shown as text as well
    const n = Math.min(maxBytes, buf.length)
    if (!cut.utf8) return { payload: buf.subarray(0, n).toString('base64'), encoding: 'base64', kind: 'binary', size_bytes: cut.sizeBytes, truncated: true }
    return { payload: cutUtf8(buf, n), encoding: 'text', kind: headKind(buf), size_bytes: cut.sizeBytes, truncated: true }
  }
  const size = buf.length
  if (size === 0) return { payload: '', encoding: 'text', kind: 'empty', size_bytes: 0, truncated: false }
  const text = utf8OrUndefined(buf)
  if (text === undefined) {
    const cut = size > maxBytes
    return { payload: buf.subarray(0, maxBytes).toString('base64'), encoding: 'base64', kind: 'binary', size_bytes: size, truncated: cut }
  }
  const json = mayBeJson(buf) ? tryParse(text) : undefined
  if (json !== undefined) {
    const kind: PayloadKind = typeof json.value === 'number' ? 'number' : 'json'
    // a cut JSON document is not JSON any more: show its first bytes as text and say so
    if (size > maxBytes) return { payload: cutUtf8(buf, maxBytes), encoding: 'text', kind, size_bytes: size, truncated: true }
    return { payload: json.value, encoding: 'json', kind, size_bytes: size, truncated: false }
  }
  if (size > maxBytes) return { payload: cutUtf8(buf, maxBytes), encoding: 'text', kind: 'text', size_bytes: size, truncated: true }
  return { payload: text, encoding: 'text', kind: 'text', size_bytes: size, truncated: false }
}

function tryParse(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}
