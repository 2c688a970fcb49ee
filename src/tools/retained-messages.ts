/**
 * mqtt_retained_messages: lists the retained messages below a pattern, or clears them (an empty retained
 * PUBLISH per topic) after a dry run. Discovery is one QoS 0 subscription; there is no end-of-retained marker
 * in MQTT, so the window ends by time (NOTES.md).
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { defer, firstValueFrom, from, fromEvent, last, map, mergeMap, of, scan, takeUntil, timeout, type Observable } from 'rxjs'
import * as err from '../errors.js'
import { described, int, object, oneOf, optional, str } from '../mcp/codec.js'
import { classifyPayload, showPayload, type PayloadKind, type ShownPayload } from '../mqtt/payload.js'
import { isSystemTopic } from '../mqtt/topic.js'
import type { Session } from '../sessions/session.js'
import type { Message } from '../streams/types.js'
import { sessionIdField, withSession } from './common.js'
import { checkPublishAllowed } from './publish-policy.js'
import { defineTool, type ToolContext } from './tool.js'
import { runWindow, validateFilters } from './window.js'

const input = object(
  {
    session_id: sessionIdField,
    pattern: optional(described(str(1, 65535), 'Topic filter whose retained messages to list or clear, e.g. # or homeassistant/#.'), '#'),
    action: optional(described(oneOf(['list', 'clear'] as const), 'list (default) shows the retained messages; clear removes them by publishing an empty retained message to each topic.'), 'list'),
    dry_run: optional(described(t.boolean, 'For clear: only report what would be cleared (default true). Set false to really clear.'), true),
    max: optional(described(int(1, 100_000), 'Most retained topics to list or clear.'), 1000),
    duration_seconds: optional(
      described(int(1, 30), 'How long to wait for the broker to replay retained messages, in seconds. MQTT has no end-of-retained marker; replay is fast (10,000 topics in about 0.1 s locally).'),
      2,
    ),
    max_payload_bytes: optional(described(int(16, 65_536), 'Show at most this many bytes of each retained payload (size_bytes is always the full size).'), 256),
  },
  'mqtt_retained_messages',
)

const output = object({
  session_id: t.string,
  action: t.keyof({ list: null, clear: null }),
  pattern: t.string,
  retained: optional(
    t.array(
      object({
        topic: t.string,
        payload: t.unknown,
        encoding: t.keyof({ json: null, text: null, base64: null }),
        size_bytes: t.number,
        kind: t.keyof({ json: null, text: null, number: null, binary: null, empty: null }),
        truncated: optional(t.boolean),
      }),
    ),
  ),
  dry_run: optional(t.boolean),
  would_clear: optional(t.array(t.string)),
  cleared: optional(t.array(t.string)),
  denied: optional(described(t.array(t.string), 'Topics the publish policy would refuse to clear (dry run only).')),
  failed: optional(t.array(object({ topic: t.string, error: t.string }))),
  count: described(t.number, 'list: retained topics found (up to max); clear: topics that would be / were cleared.'),
  listed: described(t.number, 'How many of them the result shows (fewer than count when the output budget is reached).'),
  truncated: t.boolean,
  stopped_by: t.keyof({ duration: null, limit: null, cancelled: null, closed: null }),
  notes: t.array(t.string),
})

// -------------------------------------------------------------------------------------
// discovery
// -------------------------------------------------------------------------------------

/** One retained topic as found: its payload shown at the requested cap, and its kind. */
interface Found {
  readonly shown: ShownPayload
  readonly kind: PayloadKind
}

/** The first retained message per topic, at most `max` topics; `more` counts topics turned away. */
interface RetainedIndex {
  readonly max: number
  readonly maxPayloadBytes: number
  readonly topics: Map<string, Found>
  more: number
}

/** Folds one message into the index (in place): only retained replays count, the first per topic. */
function retainedStep(s: RetainedIndex, m: Message): RetainedIndex {
  // the broker sets retain only on messages it replays for our new subscription (MQTT 3.1.1 §3.3.1.3)
  if (!m.retain || m.payload.length === 0 || s.topics.has(m.topic)) return s
  if (s.topics.size >= s.max) {
    s.more++
    return s
  }
  // shown now, so the index keeps at most maxPayloadBytes a topic and not the payloads themselves
  s.topics.set(m.topic, { shown: showPayload(m.payload, s.maxPayloadBytes), kind: classifyPayload(m.payload) })
  return s
}

/** Fits a list into the budget: the first `n` entries whose JSON, with the rest of the result, fits. */
function fitList<A>(items: readonly A[], budget: number, build: (shown: readonly A[]) => object): { shown: A[]; cut: boolean } {
  let n = items.length
  while (n > 0 && JSON.stringify(build(items.slice(0, n))).length > budget) n = Math.floor(n * 0.8)
  return { shown: items.slice(0, n), cut: n < items.length }
}

/** A shown payload cut to about `chars` characters (JSON becomes text once cut). */
function shorten(p: ShownPayload, chars: number): ShownPayload {
  const text = p.encoding === 'json' ? JSON.stringify(p.payload) : String(p.payload)
  if (text.length <= chars) return p
  return { ...p, payload: text.slice(0, chars), encoding: p.encoding === 'base64' ? 'base64' : 'text', truncated: true }
}

// -------------------------------------------------------------------------------------
// clearing
// -------------------------------------------------------------------------------------

/** How many clearing PUBLISHes are in flight at once (Mosquitto's max_inflight_messages is 20). */
const CLEAR_CONCURRENCY = 16
const CLEAR_ACK_TIMEOUT_MS = 10_000

/** Publishes an empty retained message (QoS 1) to each topic; reports progress and stops on cancellation. */
async function clearAll(session: Session, topics: readonly string[], ctx: ToolContext): Promise<{ cleared: string[]; failed: Array<{ topic: string; error: string }>; cancelled: boolean }> {
  const empty = Buffer.alloc(0)
  const one = (topic: string): Observable<{ topic: string; error?: string }> =>
    defer(() => session.publish(topic, empty, { qos: 1, retain: true })).pipe(
      timeout({
        first: CLEAR_ACK_TIMEOUT_MS,
        scheduler: ctx.scheduler,
        with: () => of(E.left(err.publishFailed({ message: `no PUBACK within ${CLEAR_ACK_TIMEOUT_MS / 1000} s` }))),
      }),
      map((ack) => {
        if (E.isLeft(ack)) return { topic, error: ack.left.message }
        if (ack.right !== undefined && ack.right.reasonCode >= 128) return { topic, error: `${ack.right.reason} (reason code ${ack.right.reasonCode})` }
        return { topic }
      }),
    )
  const abort$ = ctx.signal.aborted ? of(true) : fromEvent(ctx.signal, 'abort')
  const seed = { cleared: [] as string[], failed: [] as Array<{ topic: string; error: string }> }
  const done = await firstValueFrom(
    from(topics).pipe(
      mergeMap(one, CLEAR_CONCURRENCY),
      takeUntil(abort$),
      scan((acc, r) => {
        if (r.error === undefined) acc.cleared.push(r.topic)
        else acc.failed.push({ topic: r.topic, error: r.error })
        ctx.progress(acc.cleared.length + acc.failed.length, topics.length, `${acc.cleared.length} cleared`)
        return acc
      }, seed),
      last(undefined, seed),
    ),
  )
  return { ...done, cancelled: ctx.signal.aborted }
}

// -------------------------------------------------------------------------------------
// the tool
// -------------------------------------------------------------------------------------

const DENIED_SHOWN = 20

export const retainedMessages = defineTool({
  name: 'mqtt_retained_messages',
  title: 'List or clear retained MQTT messages',
  description: [
    'action list (default): subscribes to pattern (default #) at QoS 0 for duration_seconds (2, 1..30; retained messages arrive at once, MQTT has no end marker) and returns the retained messages: topic, payload preview (max_payload_bytes 256), size_bytes, kind; at most max (1000) topics.',
    'action clear: finds the same topics, and only with dry_run false (default true: would_clear lists them) publishes an empty retained message (QoS 1) to each, returning cleared and count. Clearing is refused with PUBLISH_DENIED in read-only mode and when any topic is outside the allowed topics (a dry run lists those as denied).',
    'Topic lists and previews are shortened to fit the output budget (listed < count, truncated: true). Some brokers (RabbitMQ) do not replay retained messages to wildcard subscriptions.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  run: async (args, ctx) => {
    const filters = validateFilters([{ field: 'pattern', filter: args.pattern }])
    if (E.isLeft(filters)) return filters
    if (args.action === 'clear' && ctx.config.readOnly) {
      const denied = checkPublishAllowed(ctx.config, args.pattern)
      if (E.isLeft(denied)) return E.left({ ...denied.left, hint: 'Use action "list" to see the retained messages; clearing needs a server that is not read-only.' })
    }
    return withSession(ctx, args.session_id, async (session) => {
      const window = await runWindow<RetainedIndex>(
        ctx,
        // QoS 0: at QoS 1 Mosquitto's queue limits deliver only ~1,000 of 10,000 retained messages (NOTES.md)
        session.subscribe(args.pattern, 0),
        { durationMs: args.duration_seconds * 1000, limit: Number.MAX_SAFE_INTEGER },
        retainedStep,
        () => ({ max: args.max, maxPayloadBytes: args.max_payload_bytes, topics: new Map(), more: 0 }),
        (n) => `${n} messages`,
      )
      if (E.isLeft(window)) return window
      const w = window.right
      const topics = [...w.state.topics.keys()].sort()
      const budget = Math.floor(ctx.config.outputBudgetChars * 0.9)
      const notes: string[] = []
      const truncatedByMax = w.state.more > 0
      if (truncatedByMax) notes.push(`More than max (${args.max}) retained topics exist below ${args.pattern}; ${w.state.more} more were seen and left out. Raise max or narrow pattern.`)
      const base = { session_id: session.id, action: args.action, pattern: args.pattern, stopped_by: w.stoppedBy }

      if (args.action === 'list') {
        if (topics.length === 0) notes.push(`No retained messages below ${args.pattern} within ${args.duration_seconds} s. Some brokers (RabbitMQ) do not replay retained messages to wildcard subscriptions.`)
        let entries = topics.map((topic) => ({ topic, ...w.state.topics.get(topic)! }))
        const build = (list: readonly typeof entries[number][]) => ({
          ...base,
          retained: list.map((e) => ({
            topic: e.topic,
            payload: e.shown.payload,
            encoding: e.shown.encoding,
            size_bytes: e.shown.size_bytes,
            kind: e.kind,
            ...(e.shown.truncated ? { truncated: true } : {}),
          })),
          count: topics.length,
          listed: list.length,
          truncated: true,
          notes,
        })
        // previews shrink first (to 64 characters), then entries are left out
        if (JSON.stringify(build(entries)).length > budget) entries = entries.map((e) => ({ ...e, shown: shorten(e.shown, 64) }))
        const { shown, cut } = fitList(entries, budget, build)
        if (cut) notes.push(`Only ${shown.length} of ${topics.length} retained topics fit the output budget; narrow pattern to see the rest.`)
        return E.right({ ...build(shown), truncated: truncatedByMax || cut })
      }

      // clear: broker-owned $ topics are never ours to clear
      const system = topics.filter(isSystemTopic)
      if (system.length > 0) notes.push(`${system.length} retained topic(s) starting with '$' (broker-owned, e.g. $SYS) are left alone.`)
      const targets = topics.filter((topic) => !isSystemTopic(topic))
      const denied = targets.filter((topic) => E.isLeft(checkPublishAllowed(ctx.config, topic)))
      if (denied.length > 0 && !args.dry_run) {
        const first = checkPublishAllowed(ctx.config, denied[0]!)
        const rule = E.isLeft(first) && first.left._tag === 'PublishDenied' ? first.left.rule : 'publish policy'
        const named = denied.slice(0, DENIED_SHOWN).join(', ') + (denied.length > DENIED_SHOWN ? ` and ${denied.length - DENIED_SHOWN} more` : '')
        return E.left(
          err.publishDenied({
            message: `Nothing was cleared: ${denied.length} of ${targets.length} retained topics may not be written by this server: ${named}.`,
            rule,
            hint: 'Narrow pattern to topics inside the allowed filters (MQTT_MCP_PUBLISH_ALLOW), or ask the user to extend them.',
          }),
        )
      }
      if (targets.length === 0) notes.push(`No retained messages below ${args.pattern} within ${args.duration_seconds} s: nothing to clear.`)

      if (args.dry_run) {
        if (denied.length > 0) notes.push(`${denied.length} topic(s) are outside the allowed topics: a real clear would be refused as a whole (see denied).`)
        if (targets.length > 0) notes.push('Dry run: nothing was cleared. Call again with dry_run: false to clear these topics.')
        const build = (list: readonly string[]) => ({
          ...base,
          dry_run: true,
          would_clear: [...list],
          ...(denied.length > 0 ? { denied: denied.slice(0, 100) } : {}),
          count: targets.length,
          listed: list.length,
          truncated: true,
          notes,
        })
        const { shown, cut } = fitList(targets, budget, build)
        return E.right({ ...build(shown), truncated: truncatedByMax || cut })
      }

      const result = await clearAll(session, targets, ctx)
      if (result.cancelled) notes.push(`Cancelled: ${result.cleared.length} of ${targets.length} topics were cleared before the cancellation.`)
      if (result.failed.length > 0) notes.push(`${result.failed.length} topic(s) could not be cleared (see failed).`)
      const cleared = result.cleared.sort()
      const build = (list: readonly string[]) => ({
        ...base,
        dry_run: false,
        cleared: [...list],
        ...(result.failed.length > 0 ? { failed: result.failed.slice(0, 50) } : {}),
        count: cleared.length,
        listed: list.length,
        truncated: true,
        notes,
      })
      const { shown, cut } = fitList(cleared, budget, build)
      return E.right({ ...build(shown), truncated: truncatedByMax || cut })
    })
  },
})
