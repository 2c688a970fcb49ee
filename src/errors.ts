/**
 * The one error type of the server: a union of tagged readonly records, shaped like io-ts's DecodeError.
 * Inside src/streams they travel on the RxJS error channel; at the tool boundary they become a tool result.
 */
import type * as t from 'io-ts'
import { redactUrlsInText } from './log.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

interface Base<Tag extends string> {
  readonly _tag: Tag
  readonly message: string
  /** Overrides the default hint of the tag. */
  readonly hint?: string
}

export interface BrokerUnreachable extends Base<'BrokerUnreachable'> { readonly cause?: string }
export interface AuthenticationFailed extends Base<'AuthenticationFailed'> { readonly reasonCode?: number }
export interface NotAuthorized extends Base<'NotAuthorized'> { readonly reasonCode?: number }
export interface ConnectionRefused extends Base<'ConnectionRefused'> { readonly reasonCode: number }
export interface ConnectTimeout extends Base<'ConnectTimeout'> {
  readonly timeoutMs: number
  /** `tcp`: no connection at all; `connack`: the socket opened but CONNECT got no answer. */
  readonly phase?: 'tcp' | 'connack'
}
export interface TlsFailed extends Base<'TlsFailed'> { readonly check?: string }
export type ConnectionLost = Base<'ConnectionLost'>
export type NotConnected = Base<'NotConnected'>
export interface SessionNotFound extends Base<'SessionNotFound'> { readonly sessionId?: string }
export interface SessionExpired extends Base<'SessionExpired'> { readonly sessionId: string }
export interface ResourceLimit extends Base<'ResourceLimit'> { readonly limit: number }
export interface InvalidInput extends Base<'InvalidInput'> { readonly fields: ReadonlyArray<FieldProblem> }
export interface InvalidTopic extends Base<'InvalidTopic'> { readonly field: string; readonly topic: string }
export interface PayloadTooLarge extends Base<'PayloadTooLarge'> { readonly bytes: number; readonly limit: number }
export interface QosNotSupported extends Base<'QosNotSupported'> { readonly qos: number }
export interface SubscribeRejected extends Base<'SubscribeRejected'> { readonly filter: string; readonly reasonCode: number }
export interface PublishFailed extends Base<'PublishFailed'> { readonly reasonCode?: number }
export interface PublishDenied extends Base<'PublishDenied'> { readonly rule: string }
export type Cancelled = Base<'Cancelled'>
export type Internal = Base<'Internal'>

/** One bad input field: its dotted path and what it should have been. */
export interface FieldProblem {
  readonly field: string
  readonly expected: string
  readonly got?: string
}

export type ConnectionError =
  | BrokerUnreachable
  | AuthenticationFailed
  | NotAuthorized
  | ConnectionRefused
  | ConnectTimeout
  | TlsFailed
  | ConnectionLost
  | NotConnected
export type SessionError = SessionNotFound | SessionExpired | ResourceLimit
export type OperationError =
  | InvalidInput
  | InvalidTopic
  | PayloadTooLarge
  | QosNotSupported
  | SubscribeRejected
  | PublishFailed
  | PublishDenied
  | Cancelled
  | Internal

export type AppError = ConnectionError | SessionError | OperationError
export type ErrorTag = AppError['_tag']
export type Category = 'connection' | 'session' | 'operation'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

type Fields<E extends AppError> = Omit<E, '_tag'>

export const brokerUnreachable = (f: Fields<BrokerUnreachable>): AppError => ({ _tag: 'BrokerUnreachable', ...f })
export const authenticationFailed = (f: Fields<AuthenticationFailed>): AppError => ({ _tag: 'AuthenticationFailed', ...f })
export const notAuthorized = (f: Fields<NotAuthorized>): AppError => ({ _tag: 'NotAuthorized', ...f })
export const connectionRefused = (f: Fields<ConnectionRefused>): AppError => ({ _tag: 'ConnectionRefused', ...f })
export const connectTimeout = (f: Fields<ConnectTimeout>): AppError => ({ _tag: 'ConnectTimeout', ...f })
export const tlsFailed = (f: Fields<TlsFailed>): AppError => ({ _tag: 'TlsFailed', ...f })
export const connectionLost = (f: Fields<ConnectionLost>): AppError => ({ _tag: 'ConnectionLost', ...f })
export const notConnected = (f: Fields<NotConnected>): AppError => ({ _tag: 'NotConnected', ...f })
export const sessionNotFound = (f: Fields<SessionNotFound>): AppError => ({ _tag: 'SessionNotFound', ...f })
export const sessionExpired = (f: Fields<SessionExpired>): AppError => ({ _tag: 'SessionExpired', ...f })
export const resourceLimit = (f: Fields<ResourceLimit>): AppError => ({ _tag: 'ResourceLimit', ...f })
export const invalidInput = (f: Fields<InvalidInput>): AppError => ({ _tag: 'InvalidInput', ...f })
export const invalidTopic = (f: Fields<InvalidTopic>): AppError => ({ _tag: 'InvalidTopic', ...f })
export const payloadTooLarge = (f: Fields<PayloadTooLarge>): AppError => ({ _tag: 'PayloadTooLarge', ...f })
export const qosNotSupported = (f: Fields<QosNotSupported>): AppError => ({ _tag: 'QosNotSupported', ...f })
export const subscribeRejected = (f: Fields<SubscribeRejected>): AppError => ({ _tag: 'SubscribeRejected', ...f })
export const publishFailed = (f: Fields<PublishFailed>): AppError => ({ _tag: 'PublishFailed', ...f })
export const publishDenied = (f: Fields<PublishDenied>): AppError => ({ _tag: 'PublishDenied', ...f })
export const cancelled = (f: Fields<Cancelled>): AppError => ({ _tag: 'Cancelled', ...f })
export const internal = (f: Fields<Internal>): AppError => ({ _tag: 'Internal', ...f })

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

type Handlers<R> = { readonly [K in ErrorTag]: (e: Extract<AppError, { _tag: K }>) => R }

/** Exhaustive case analysis on the tag. */
export const match =
  <R>(handlers: Handlers<R>) =>
  (e: AppError): R =>
    (handlers[e._tag] as (e: AppError) => R)(e)

interface TagInfo {
  readonly code: string
  readonly category: Category
  readonly retryable: boolean
  readonly hint: string
}

/** Stable public codes (tool results document them), category, whether a retry can help, and the default hint. */
const info: { readonly [K in ErrorTag]: TagInfo } = {
  BrokerUnreachable: {
    code: 'BROKER_UNREACHABLE',
    category: 'connection',
    retryable: true,
    hint: 'Check host and port (mqtt 1883, mqtts 8883, ws 80, wss 443) and that the broker is running; mqtt_test_connection shows which layer fails.',
  },
  AuthenticationFailed: {
    code: 'AUTHENTICATION_FAILED',
    category: 'connection',
    retryable: false,
    hint: 'The broker refused the username or password. Ask the user for the right credentials; retrying the same ones will not help.',
  },
  NotAuthorized: {
    code: 'NOT_AUTHORIZED',
    category: 'connection',
    retryable: false,
    hint: 'The broker does not allow this client. Check its ACL or client certificate with the broker operator.',
  },
  ConnectionRefused: {
    code: 'CONNECTION_REFUSED',
    category: 'connection',
    retryable: false,
    hint: 'The broker refused the connection (see the reason). Try another client_id or protocol_version.',
  },
  ConnectTimeout: {
    code: 'CONNECT_TIMEOUT',
    category: 'connection',
    retryable: true,
    hint: 'No CONNACK in time. The port may belong to something other than an MQTT broker, or a firewall drops packets; try mqtt_test_connection.',
  },
  TlsFailed: {
    code: 'TLS_FAILED',
    category: 'connection',
    retryable: false,
    hint: 'Fix the TLS settings: pass the broker CA in tls.ca, the right servername, or a valid client certificate and key.',
  },
  ConnectionLost: {
    code: 'CONNECTION_LOST',
    category: 'connection',
    retryable: true,
    hint: 'The session lost its broker and is reconnecting on its own; call again in a few seconds.',
  },
  NotConnected: {
    code: 'NOT_CONNECTED',
    category: 'connection',
    retryable: true,
    hint: 'The session is reconnecting; nothing was sent. Check mqtt_list_active_connections and call again when it is connected.',
  },
  SessionNotFound: {
    code: 'SESSION_NOT_FOUND',
    category: 'session',
    retryable: false,
    hint: 'Call mqtt_list_active_connections for open sessions, or open one with mqtt_establish_connection.',
  },
  SessionExpired: {
    code: 'SESSION_EXPIRED',
    category: 'session',
    retryable: false,
    hint: 'The session was closed after being idle too long. Open a new one with mqtt_establish_connection.',
  },
  ResourceLimit: {
    code: 'RESOURCE_LIMIT',
    category: 'session',
    retryable: false,
    hint: 'Close a session you no longer need with mqtt_close_connection, then try again.',
  },
  InvalidInput: {
    code: 'INVALID_INPUT',
    category: 'operation',
    retryable: false,
    hint: 'Fix the named fields as described and call again.',
  },
  InvalidTopic: {
    code: 'INVALID_TOPIC',
    category: 'operation',
    retryable: false,
    hint: 'Fix the topic as described and call again.',
  },
  PayloadTooLarge: {
    code: 'PAYLOAD_TOO_LARGE',
    category: 'operation',
    retryable: false,
    hint: 'Send a smaller payload.',
  },
  QosNotSupported: {
    code: 'QOS_NOT_SUPPORTED',
    category: 'operation',
    retryable: false,
    hint: 'Use a lower QoS; this broker does not support the one asked for.',
  },
  SubscribeRejected: {
    code: 'SUBSCRIBE_REJECTED',
    category: 'operation',
    retryable: false,
    hint: 'The broker refused the subscription (ACL or unsupported filter). Try a narrower filter.',
  },
  PublishFailed: {
    code: 'PUBLISH_FAILED',
    category: 'operation',
    retryable: true,
    hint: 'The broker did not accept the message; check the reason and the ACL for this topic.',
  },
  PublishDenied: {
    code: 'PUBLISH_DENIED',
    category: 'operation',
    retryable: false,
    hint: 'This server is configured not to publish here. Ask the user to change MQTT_MCP_READ_ONLY or MQTT_MCP_PUBLISH_ALLOW.',
  },
  Cancelled: { code: 'CANCELLED', category: 'operation', retryable: false, hint: 'The call was cancelled by the client.' },
  Internal: {
    code: 'INTERNAL_ERROR',
    category: 'operation',
    retryable: false,
    hint: 'An unexpected error; the server keeps running. Try again, and report it if it repeats.',
  },
}

/** The public code of an error, e.g. `AUTHENTICATION_FAILED`. */
export const codeOf = (e: AppError): string => info[e._tag].code
/** Whether retrying the same call may succeed (transient network faults). */
export const isRetryable = (e: AppError): boolean => info[e._tag].retryable
/** The error category of the original design's hierarchy. */
export const categoryOf = (e: AppError): Category => info[e._tag].category

/** The JSON body sent to the model: `{ error: { code, category, message, hint, retryable, fields? } }`. */
export function toErrorBody(e: AppError): { error: Record<string, unknown> } {
  const i = info[e._tag]
  const extra = e._tag === 'InvalidInput' ? { fields: e.fields } : {}
  return { error: { code: i.code, category: i.category, message: e.message, hint: e.hint ?? i.hint, retryable: i.retryable, ...extra } }
}

/** The MCP tool result for an error: isError, one text block, no structuredContent (SDK clients validate it). */
export function toToolResult(e: AppError): { isError: true; content: Array<{ type: 'text'; text: string }> } {
  return { isError: true, content: [{ type: 'text', text: JSON.stringify(toErrorBody(e), null, 2) }] }
}

const TAGS = new Set<string>(Object.keys(info))

/** True when `u` is already an AppError. */
export const isAppError = (u: unknown): u is AppError =>
  typeof u === 'object' && u !== null && TAGS.has((u as { _tag?: unknown })._tag as string) &&
  typeof (u as { message?: unknown }).message === 'string'

/** Turns anything thrown into an AppError; never lets `unknown` escape. */
export function fromUnknown(u: unknown): AppError {
  if (isAppError(u)) return u
  const message = u instanceof Error ? u.message : String(u)
  return internal({ message })
}

// -------------------------------------------------------------------------------------
// io-ts errors
// -------------------------------------------------------------------------------------

// Fields whose values are never echoed back, whatever is wrong with them (as the logger's redaction).
const SECRET_FIELD = /pass(word)?|secret|token|authorization|^key$|passphrase|credential/i

const describeValue = (v: unknown, field: string): string => {
  if (v === undefined) return 'nothing'
  if (SECRET_FIELD.test(field.slice(field.lastIndexOf('.') + 1))) return '***'
  // URL userinfo is masked before shortening, so a cut cannot hide the '@' that marks the password
  const json = JSON.stringify(v)
  const s = json === undefined ? undefined : redactUrlsInText(json)
  return s === undefined ? typeof v : s.length > 60 ? s.slice(0, 57) + '...' : s
}

// optional() and described() (src/mcp/codec.ts) validate through their inner codec without a context entry of
// their own, so a union wrapped in them is the parent of its members: look through the wrappers
const combinatorTag = (type: unknown): string | undefined => {
  let c = type as { _tag?: string; inner?: unknown } | undefined
  while (c !== undefined && (c._tag === 'Optional' || c._tag === 'Described') && c.inner !== undefined) c = c.inner as typeof c
  return c?._tag
}

/** The message StrictObject gives a key it does not know. */
export const UNKNOWN_FIELD = 'no such field'

/** Maps io-ts validation errors to one InvalidInput naming every bad field and what it expects. */
export function fromValidationErrors(errors: t.Errors): AppError {
  const byField = new Map<string, FieldProblem>()
  for (const err of errors) {
    // union and intersection members appear in the context as numeric keys: skip them, keep array indices
    const path: string[] = []
    for (let i = 1; i < err.context.length; i++) {
      const entry = err.context[i]
      const parent = err.context[i - 1]
      if (entry === undefined || parent === undefined) continue
      const parentTag = combinatorTag(parent.type)
      if (parentTag === 'UnionType' || parentTag === 'IntersectionType') continue
      path.push(entry.key)
    }
    const field = path.join('.') || '(arguments)'
    const last = err.context[err.context.length - 1]
    const expected = err.message ?? last?.type.name ?? 'a valid value'
    if (!byField.has(field)) byField.set(field, { field, expected, got: describeValue(err.value, field) })
  }
  const fields = [...byField.values()]
  const message = fields
    .map((f) =>
      f.field === '(arguments)'
        ? `arguments: expected ${f.expected}`
        : f.expected.startsWith(UNKNOWN_FIELD)
          ? `${f.field}: unknown field (${f.expected.slice(UNKNOWN_FIELD.length + 2)})`
          : f.got === 'nothing'
            ? `${f.field}: required, expected ${f.expected}`
            : `${f.field}: expected ${f.expected}, got ${f.got}`,
    )
    .join('; ')
  return invalidInput({ message: `Invalid arguments. ${message}`, fields })
}
