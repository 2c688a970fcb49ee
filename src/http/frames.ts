/**
 * The live feed's protocol: JSON text frames with a `type`. Server → client: hello, session, tool_call,
 * messages, stats, filter, error. Client → server: filter.
 */
import * as E from 'fp-ts/lib/Either.js'
import type { ToolCallRecord } from '../activity.js'
import { showPayload } from '../mqtt/payload.js'
import type { SessionInfo } from '../sessions/session.js'
import type { Message, QoS } from '../streams/types.js'
import type { RateSnapshot } from './rates.js'

/** Longest payload preview in a sample, in characters. */
export const PREVIEW_CHARS = 200
// JSON up to this size is parsed and shown compact; a larger document is shown as its first bytes
const PREVIEW_PARSE_BYTES = 16 * 1024

/** The last message on one topic of one session, in short. */
export interface MessageSample {
  readonly session_id: string
  readonly topic: string
  /** At most PREVIEW_CHARS: text as text, JSON compact, binary as `<binary N bytes>`; a cut preview ends with '…'. */
  readonly payload: string
  readonly encoding: 'json' | 'text' | 'binary'
  readonly size_bytes: number
  readonly qos: QoS
  readonly retain: boolean
  /** ISO time. */
  readonly received_at: string
}

/** Frames the server sends. */
export type ServerFrame =
  | { readonly type: 'hello'; readonly version: string; readonly sessions: readonly SessionInfo[]; readonly calls: readonly ToolCallRecord[]; readonly filter: string }
  | { readonly type: 'session'; readonly event: 'opened' | 'state' | 'closed'; readonly session: SessionInfo }
  | { readonly type: 'tool_call'; readonly call: ToolCallRecord }
  | { readonly type: 'messages'; readonly samples: readonly MessageSample[] }
  | ({ readonly type: 'stats' } & RateSnapshot)
  | { readonly type: 'filter'; readonly filter: string }
  | { readonly type: 'error'; readonly message: string }

/** Frames a client may send. */
export type ClientFrame = { readonly type: 'filter'; readonly filter: string }

const cut = (text: string): string => (text.length <= PREVIEW_CHARS ? text : text.slice(0, PREVIEW_CHARS - 1) + '…')

/** The sample of one message (payload previewed, never the whole payload). */
export function toSample(sessionId: string, m: Message): MessageSample {
  const shown = showPayload(m.payload, PREVIEW_PARSE_BYTES)
  const base = { session_id: sessionId, topic: m.topic, size_bytes: m.payload.length, qos: m.qos, retain: m.retain, received_at: new Date(m.receivedAt).toISOString() }
  if (shown.encoding === 'base64') return { ...base, payload: `<binary ${m.payload.length} bytes>`, encoding: 'binary' }
  if (shown.encoding === 'json') return { ...base, payload: cut(JSON.stringify(shown.payload)), encoding: 'json' }
  const text = shown.truncated ? cut(String(shown.payload) + '…') : cut(String(shown.payload))
  return { ...base, payload: text, encoding: shown.kind === 'json' || shown.kind === 'number' ? 'json' : 'text' }
}

/** Reads a client frame; Left is the message of the error frame to answer with. */
export function parseClientFrame(data: string): E.Either<string, ClientFrame> {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return E.left('frames must be JSON objects such as {"type":"filter","filter":"sensors/#"}')
  }
  if (typeof value !== 'object' || value === null) return E.left('frames must be JSON objects')
  const v = value as { type?: unknown; filter?: unknown }
  if (v.type !== 'filter') return E.left(`unknown frame type ${JSON.stringify(String(v.type)).slice(0, 60)}; the only one is "filter"`)
  return typeof v.filter === 'string' ? E.right({ type: 'filter', filter: v.filter }) : E.left('a filter frame needs a string "filter"')
}
