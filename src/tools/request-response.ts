/**
 * mqtt_request_response: an integration test of a request/response exchange. Subscribes to the response
 * topic before publishing, pairs replies by MQTT 5 Correlation Data (or by topic and a JSON id on 3.1.1),
 * repeats sequentially and reports round-trip times; a reply that does not come is a counted timeout.
 */
import { randomUUID } from 'node:crypto'
import { Ajv, type AnySchema, type ValidateFunction } from 'ajv'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { Ajv2020 } from 'ajv/dist/2020.js'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { defaultIfEmpty, filter, firstValueFrom, from, fromEvent, map, merge, of, race, Subject, take, takeUntil, timer, type Observable } from 'rxjs'
import * as err from '../errors.js'
import type { AppError } from '../errors.js'
import { described, int, object, oneOf, optional, str } from '../mcp/codec.js'
import { parseJson, showPayload, utf8OrUndefined } from '../mqtt/payload.js'
import { validateTopicName } from '../mqtt/topic.js'
import type { Session } from '../sessions/session.js'
import type { Message, PublishOptions, QoS } from '../streams/types.js'
import { sessionIdField, withSession } from './common.js'
import { checkPublishAllowed, outgoingPayload, payloadFields } from './publish-policy.js'
import { defineTool, type ToolContext } from './tool.js'
import { validateFilters } from './window.js'

const input = object(
  {
    session_id: sessionIdField,
    request_topic: described(str(1, 65535), 'Topic to publish the request to (no wildcards).'),
    ...payloadFields('The request payload'),
    response_topic: described(
      str(1, 65535),
      'Topic filter the replies arrive on; subscribed before the request is published. On MQTT 5 it is also sent as Response Topic (when it has no wildcards) with fresh Correlation Data per request.',
    ),
    timeout_seconds: optional(described(int(1, 60), 'How long to wait for each reply, in seconds.'), 10),
    repeat: optional(described(int(1, 20), 'How many requests to send, one after the other.'), 1),
    expect_schema: optional(described(t.UnknownRecord, 'A JSON Schema (draft-07 by default; 2019-09 or 2020-12 by its $schema) every reply must satisfy; violations are listed per reply.')),
    qos: optional(described(oneOf([0, 1, 2] as const), 'QoS of the request and of the response subscription.'), 1),
    max_payload_bytes: optional(described(int(16, 1_048_576), 'Show at most this many bytes of each reply (size_bytes is always the full size).'), 1024),
  },
  'mqtt_request_response',
)

const replyCodec = object({
  attempt: t.number,
  topic: t.string,
  payload: t.unknown,
  encoding: t.keyof({ json: null, text: null, base64: null }),
  size_bytes: t.number,
  truncated: optional(t.boolean),
  rtt_ms: t.number,
  schema_errors: t.array(t.string),
  correlation: t.keyof({ mqtt5: null, topic: null }),
})

const output = object({
  session_id: t.string,
  request_topic: t.string,
  response_topic: t.string,
  protocol_version: t.number,
  requests: t.number,
  replies: t.array(replyCodec),
  rtt_ms: t.union([object({ min: t.number, p50: t.number, max: t.number }), t.null]),
  timed_out: t.number,
  timed_out_attempts: t.array(t.number),
  ignored_messages: described(t.number, 'Messages on response_topic that were not replies to these requests (other Correlation Data or JSON id).'),
  schema_valid: t.union([t.boolean, t.null]),
  stopped_by: t.keyof({ completed: null, cancelled: null, closed: null }),
  notes: t.array(t.string),
})

type Reply = t.TypeOf<typeof replyCodec>

/** A reply as received, before it is shown. */
interface Received {
  readonly attempt: number
  readonly message: Message
  readonly rttMs: number
  readonly schemaErrors: string[]
  readonly correlation: 'mqtt5' | 'topic'
}

/** Shows one reply with at most `cap` bytes of its payload. */
function replyView(r: Received, cap: number): Reply {
  const shown = showPayload(r.message.payload, cap)
  return {
    attempt: r.attempt,
    topic: r.message.topic,
    payload: shown.payload,
    encoding: shown.encoding,
    size_bytes: shown.size_bytes,
    ...(shown.truncated ? { truncated: true } : {}),
    rtt_ms: r.rttMs,
    schema_errors: r.schemaErrors,
    correlation: r.correlation,
  }
}

/** The JSON id fields a 3.1.1 responder may echo (those the demo fleet copies back). */
const ID_FIELDS = ['id', 'correlation_id', 'correlationId', 'request_id'] as const

// -------------------------------------------------------------------------------------
// pairing
// -------------------------------------------------------------------------------------

/** The id fields of a JSON object request, to prefer replies that echo them. */
function requestIds(payload: Buffer): Array<[string, unknown]> {
  const json = parseJson(payload)?.value
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return []
  const record = json as Record<string, unknown>
  return ID_FIELDS.filter((k) => record[k] !== undefined).map((k) => [k, record[k]])
}

/**
 * How a message relates to the pending request: `mqtt5` when it carries our Correlation Data, `topic` when it
 * carries none (a 3.1.1-style responder) and does not contradict the request's JSON id, `other` otherwise.
 */
function pairing(m: Message, correlation: Buffer | undefined, ids: ReadonlyArray<[string, unknown]>): 'mqtt5' | 'topic' | 'other' {
  // a retained message on the response topic is old state replayed on subscribe, never a reply
  if (m.retain) return 'other'
  const cd = m.properties?.correlationData
  if (correlation !== undefined && cd !== undefined) return cd.equals(correlation) ? 'mqtt5' : 'other'
  if (ids.length > 0) {
    const json = parseJson(m.payload)?.value
    if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
      const record = json as Record<string, unknown>
      for (const [k, v] of ids) if (record[k] !== undefined && JSON.stringify(record[k]) !== JSON.stringify(v)) return 'other'
    }
  }
  return 'topic'
}

// -------------------------------------------------------------------------------------
// schema
// -------------------------------------------------------------------------------------

/** Compiles the expected schema once per call; Left names expect_schema. */
function compileSchema(schema: Record<string, unknown>): E.Either<AppError, ValidateFunction> {
  const dialect = typeof schema['$schema'] === 'string' ? schema['$schema'] : ''
  const opts = { strict: false, allErrors: true, logger: false as const, validateFormats: false }
  const ajv = dialect.includes('2020-12') ? new Ajv2020(opts) : dialect.includes('2019-09') ? new Ajv2019(opts) : new Ajv(opts)
  try {
    return E.right(ajv.compile(schema as AnySchema))
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e)
    return E.left(err.invalidInput({ message: `expect_schema: not a valid JSON Schema (${reason}).`, fields: [{ field: 'expect_schema', expected: 'a JSON Schema object, e.g. {"type": "object", "required": ["ok"]}' }] }))
  }
}

/** What is wrong with a reply under the schema: JSON is checked as JSON, other text as a string. */
function schemaErrors(validate: ValidateFunction | undefined, payload: Buffer): string[] {
  if (validate === undefined) return []
  const json = parseJson(payload)
  const text = json === undefined ? utf8OrUndefined(payload) : undefined
  if (json === undefined && text === undefined) return [`the reply is ${payload.length} bytes of binary data, not JSON`]
  if (validate(json !== undefined ? json.value : text)) return []
  return (validate.errors ?? []).slice(0, 20).map((e) => `${e.instancePath === '' ? '(root)' : e.instancePath} ${e.message ?? 'is invalid'}${e.params !== undefined && 'allowedValues' in e.params ? ` ${JSON.stringify(e.params['allowedValues'])}` : ''}`)
}

// -------------------------------------------------------------------------------------
// the exchange
// -------------------------------------------------------------------------------------

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!

const abort$ = (signal: AbortSignal): Observable<unknown> => (signal.aborted ? of(true) : fromEvent(signal, 'abort'))

/** Subscribes and waits for SUBACK (or a timeout); the returned subject carries the messages until `stop`. */
async function subscribeFirst(
  session: Session,
  filterText: string,
  qos: QoS,
  timeoutMs: number,
  ctx: ToolContext,
): Promise<E.Either<AppError, { messages: Subject<Message>; ended: () => boolean; stop: () => void }>> {
  const messages = new Subject<Message>()
  let ended = false
  let settle: (r: E.Either<AppError, void>) => void = () => undefined
  const granted = new Promise<E.Either<AppError, void>>((resolve) => (settle = resolve))
  const sub = session.subscribe(filterText, qos, () => settle(E.right(undefined))).subscribe({
    next: (m) => messages.next(m),
    error: (e: unknown) => {
      ended = true
      settle(E.left(err.fromUnknown(e)))
      messages.complete()
    },
    complete: () => {
      ended = true
      settle(E.left(err.notConnected({ message: 'The session closed before the response topic was subscribed.' })))
      messages.complete()
    },
  })
  const stop = (): void => {
    sub.unsubscribe()
    messages.complete()
  }
  // race: whichever loses (the timer included) is unsubscribed, so no timer outlives the call
  const waited = await firstValueFrom(
    race(
      from(granted),
      timer(timeoutMs, ctx.scheduler).pipe(
        map(() =>
          E.left<AppError, void>(
            err.subscribeRejected({
              message: `No SUBACK for '${filterText}' within ${timeoutMs / 1000} s; nothing was published.`,
              filter: filterText,
              reasonCode: 128,
              hint: 'Check that the session is connected (mqtt_list_active_connections) and try again.',
            }),
          ),
        ),
      ),
      abort$(ctx.signal).pipe(map(() => E.left<AppError, void>(err.cancelled({ message: 'The call was cancelled before the response topic was subscribed.' })))),
    ),
  )
  if (E.isLeft(waited)) {
    stop()
    return waited
  }
  return E.right({ messages, ended: () => ended, stop })
}

export const requestResponse = defineTool({
  name: 'mqtt_request_response',
  title: 'Test an MQTT request/response exchange',
  description: [
    'Publishes a request to request_topic and waits for the reply on response_topic, repeat (1..20) times one after the other; subscribes (and waits for SUBACK) before publishing, so a fast reply is never missed.',
    'MQTT 5 sessions send response_topic as Response Topic with fresh Correlation Data per request, and a reply carrying other Correlation Data is ignored (one carrying none still counts, by topic). On 3.1.1 the first message on response_topic after the publish counts; when the request is a JSON object with id / correlation_id / request_id, replies echoing another value are ignored.',
    'Each reply: payload (decoded, capped at max_payload_bytes 1024), rtt_ms, schema_errors against expect_schema (optional JSON Schema), correlation (mqtt5 | topic). Also rtt_ms { min, p50, max } and timed_out: a reply that does not come within timeout_seconds (10) is counted, not an error.',
    'qos 1 by default. Refused with PUBLISH_DENIED in read-only mode or outside the allowed topics.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  run: async (args, ctx) => {
    const topicOk = validateTopicName(args.request_topic)
    if (E.isLeft(topicOk)) return E.left(err.invalidTopic({ message: `request_topic: ${topicOk.left}`, field: 'request_topic', topic: args.request_topic }))
    const filters = validateFilters([{ field: 'response_topic', filter: args.response_topic }])
    if (E.isLeft(filters)) return filters
    const allowed = checkPublishAllowed(ctx.config, args.request_topic)
    if (E.isLeft(allowed)) return allowed
    const bytes = outgoingPayload(ctx.config, args.payload, args.payload_encoding)
    if (E.isLeft(bytes)) return bytes
    const payload = bytes.right
    let validate: ValidateFunction | undefined
    if (args.expect_schema !== undefined) {
      const compiled = compileSchema(args.expect_schema)
      if (E.isLeft(compiled)) return compiled
      validate = compiled.right
    }
    const ids = requestIds(payload)
    const qos = args.qos as QoS
    const timeoutMs = args.timeout_seconds * 1000

    return withSession(ctx, args.session_id, async (session) => {
      const maxQos = session.connack?.maximumQoS
      if (maxQos !== undefined && qos > maxQos) {
        return E.left(err.qosNotSupported({ message: `The broker accepts at most QoS ${maxQos} (CONNACK Maximum QoS); QoS ${qos} was asked for.`, qos }))
      }
      const v5 = session.protocolVersion === 5
      const notes: string[] = []
      // a Response Topic must be a topic name: with a wildcard filter only the Correlation Data is sent
      const sendResponseTopic = v5 && E.isRight(validateTopicName(args.response_topic))
      if (v5 && !sendResponseTopic) notes.push('response_topic has wildcards, so it was not sent as the MQTT 5 Response Topic; Correlation Data was.')
      if (!v5 && ids.length === 0 && args.repeat > 1) {
        notes.push('MQTT 3.1.1 has no Correlation Data: replies are paired by topic only, so a late reply to one request may be counted for the next.')
      }

      const subscribed = await subscribeFirst(session, args.response_topic, qos, timeoutMs, ctx)
      if (E.isLeft(subscribed)) return subscribed
      const { messages, ended, stop } = subscribed.right
      const replies: Received[] = []
      const timedOut: number[] = []
      let ignored = 0
      let requests = 0
      let stoppedBy: 'completed' | 'cancelled' | 'closed' = 'completed'
      try {
        for (let attempt = 1; attempt <= args.repeat; attempt++) {
          if (ctx.signal.aborted) {
            stoppedBy = 'cancelled'
            break
          }
          const correlation = v5 ? Buffer.from(randomUUID(), 'utf8') : undefined
          const halt = new Subject<void>()
          // subscribed to the replies before the PUBLISH goes out
          const reply = firstValueFrom(
            messages.pipe(
              map((m) => ({ m, how: pairing(m, correlation, ids) })),
              filter((x): x is { m: Message; how: 'mqtt5' | 'topic' } => {
                if (x.how !== 'other') return true
                ignored++
                return false
              }),
              take(1),
              takeUntil(merge(timer(timeoutMs, ctx.scheduler), abort$(ctx.signal), halt)),
              defaultIfEmpty(undefined),
            ),
          )
          const properties: PublishOptions['properties'] | undefined = v5
            ? { ...(sendResponseTopic ? { responseTopic: args.response_topic } : {}), ...(correlation !== undefined ? { correlationData: correlation } : {}) }
            : undefined
          const sentAt = ctx.scheduler.now()
          requests++
          const published = await Promise.race([
            session.publish(args.request_topic, payload, { qos, retain: false, ...(properties !== undefined ? { properties } : {}) }),
            // a reply (or the timeout) before PUBACK must not wait for it
            reply.then(() => E.right(undefined)),
          ])
          if (E.isLeft(published)) {
            halt.next()
            return published
          }
          const got = await reply
          if (got === undefined) {
            if (ctx.signal.aborted) {
              stoppedBy = 'cancelled'
              break
            }
            if (ended() || session.state === 'closed') {
              stoppedBy = 'closed'
              break
            }
            timedOut.push(attempt)
          } else {
            replies.push({
              attempt,
              message: got.m,
              rttMs: Math.max(0, got.m.receivedAt - sentAt),
              schemaErrors: schemaErrors(validate, got.m.payload),
              correlation: got.how,
            })
          }
          ctx.progress(attempt, args.repeat, `${replies.length} replies, ${timedOut.length} timed out`)
        }
      } finally {
        stop()
      }
      const rtts = replies.map((r) => r.rttMs).sort((a, b) => a - b)
      if (timedOut.length > 0 && replies.length === 0) {
        notes.push(`No reply on ${args.response_topic} within ${args.timeout_seconds} s. Check that a responder is subscribed to ${args.request_topic} and answers on this topic${v5 ? ' (or on the Response Topic it is sent)' : ''}.`)
      }
      if (ignored > 0) notes.push(`${ignored} message(s) on ${args.response_topic} were ignored: they carried other Correlation Data or another JSON id.`)
      const result = {
        session_id: session.id,
        request_topic: args.request_topic,
        response_topic: args.response_topic,
        protocol_version: session.protocolVersion ?? 4,
        requests,
        replies: replies.map((r) => replyView(r, args.max_payload_bytes)),
        rtt_ms: rtts.length === 0 ? null : { min: rtts[0]!, p50: percentile(rtts, 0.5), max: rtts[rtts.length - 1]! },
        timed_out: timedOut.length,
        timed_out_attempts: timedOut,
        ignored_messages: ignored,
        schema_valid: validate === undefined || replies.length === 0 ? null : replies.every((r) => r.schemaErrors.length === 0),
        stopped_by: stoppedBy,
        notes,
      }
      // 20 replies of up to 1 MiB each: halve the payload previews until the result fits the output budget
      const budget = Math.floor(ctx.config.outputBudgetChars * 0.9)
      for (let cap = args.max_payload_bytes; JSON.stringify(result).length > budget && cap > 16; ) {
        cap = Math.max(16, Math.floor(cap / 2))
        result.replies = replies.map((r) => replyView(r, cap))
      }
      return E.right(result)
    })
  },
})
