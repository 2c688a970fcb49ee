/**
 * mqtt_debug_device: everything the broker shows about one device in a window: its topics by role,
 * availability / Last-Will state with every transition, heartbeats, a timeline of state changes, errors and
 * payload shapes. One subscription (QoS 0) to `#` or to the caller's topic_pattern, folded by the per-device
 * reducer (streams/device.ts); this shell decodes, runs the window and fits the result to the output budget.
 *
 *   #  ──keep topics with the device id as a whole level──▶  deviceStep ──▶ availability · heartbeat ·
 *                                                             topics · values (timeline) · errors · shapes
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import * as err from '../errors.js'
import { described, int, object, optional, str } from '../mcp/codec.js'
import { showPayload } from '../mqtt/payload.js'
import {
  deviceAnalysis,
  deviceErrors,
  deviceStep,
  deviceTimeline,
  ERROR_HEAD,
  ERROR_TAIL,
  initialDevice,
  MAX_KEYS,
  MAX_TOPICS,
  type DeviceAnalysis,
  type DeviceRole,
  type DeviceState,
} from '../streams/device.js'
import { nullableString, sessionIdField, withSession } from './common.js'
import { defineTool } from './tool.js'
import { gapsBetween, runWindow, subscribeAll, validateFilters } from './window.js'

const input = object(
  {
    session_id: sessionIdField,
    device_id: described(
      str(1, 1000),
      'The device id as it appears in its topics, e.g. tasmota_pool_pump, living_room_temp, garage-door. Matched as a whole topic level anywhere (tele/<id>/…, stat/<id>/…, cmnd/<id>/…, zigbee2mqtt/<id>, homeassistant/+/<id>/…, devices/<id>/…); an id with / spans several levels.',
    ),
    topic_pattern: optional(
      described(str(1, 65535), 'Topic filter for the device when its id is not a topic level of its own, e.g. home/kitchen/light/#. When given, every topic matching it counts as the device\'s.'),
    ),
    duration_seconds: optional(described(int(10, 600), 'How long to watch, in seconds. Heartbeats and transitions need time: most devices report every 5 to 60 s.'), 60),
  },
  'mqtt_debug_device',
)

const iso = t.string
const topicEntry = object({ topic: t.string, messages: t.number, retained: t.boolean, last_seen: iso })
const output = object({
  session_id: t.string,
  device_id: t.string,
  filter: t.string,
  matched_by: t.keyof({ device_id: null, topic_pattern: null }),
  stopped_by: t.keyof({ duration: null, limit: null, cancelled: null, closed: null }),
  window_seconds: t.number,
  messages_seen: described(t.number, 'Messages on the device\'s topics (live and retained).'),
  topic_count: t.number,
  topics: described(
    object({
      telemetry: t.array(topicEntry),
      state: t.array(topicEntry),
      availability: t.array(topicEntry),
      command: t.array(topicEntry),
      config: t.array(topicEntry),
      other: t.array(topicEntry),
    }),
    'The device\'s topics by role, from the naming styles of Tasmota, Zigbee2MQTT, Home Assistant and plain devices/<id>/… layouts.',
  ),
  availability: t.array(
    object({
      topic: t.string,
      state: t.keyof({ online: null, offline: null }),
      raw: t.string,
      since: iso,
      initial: object({ state: t.keyof({ online: null, offline: null }), at: iso, retained: t.boolean }),
      transitions: t.array(object({ at: iso, from: t.string, to: t.string })),
      transition_count: t.number,
    }),
  ),
  heartbeats: t.array(
    object({ topic: t.string, period_ms: t.number, jitter_ms: t.number, missed_beats: t.number, messages: t.number, last_at: iso, silent_ms: t.number }),
  ),
  timeline: described(
    t.array(object({ at: iso, topic: t.string, key: nullableString, from: t.string, to: t.string, kind: t.keyof({ availability: null, value: null }) })),
    'State changes in time order (the latest ones when there are many): availability transitions and changes of state/status/POWER-like values. First values are initial states, not changes.',
  ),
  timeline_total: t.number,
  errors: t.array(
    object({
      at: iso,
      topic: t.string,
      payload: t.unknown,
      encoding: t.keyof({ json: null, text: null, base64: null }),
      size_bytes: t.number,
      truncated: optional(t.boolean),
      retained: t.boolean,
    }),
  ),
  errors_total: t.number,
  schemas: t.array(object({ topic: t.string, kind: t.string, keys: optional(t.array(t.string)) })),
  interruptions: t.array(object({ start: t.string, end: nullableString, error: t.string })),
  notes: t.array(t.string),
  truncated: t.boolean,
})

type Output = t.TypeOf<typeof output>

const MAX_NOTES_EACH = 5

// -------------------------------------------------------------------------------------
// result
// -------------------------------------------------------------------------------------

/** How much of each list the result shows; shrunk step by step until the JSON fits the budget. */
interface Limits {
  payloadBytes: number
  errors: number
  timeline: number
  transitions: number
  schemas: number
  keys: number
  perRole: number
  heartbeats: number
  availability: number
}

const FULL: Limits = { payloadBytes: 512, errors: ERROR_HEAD + ERROR_TAIL, timeline: 100, transitions: 50, schemas: 200, keys: MAX_KEYS, perRole: 100, heartbeats: 100, availability: 100 }

/** Each step shrinks one list; the loop cycles through them until the body fits or nothing can shrink. */
const SHRINK: ReadonlyArray<(l: Limits) => boolean> = [
  (l) => shrink(l, 'payloadBytes', 64),
  (l) => shrink(l, 'keys', 5),
  (l) => shrink(l, 'timeline', 10),
  (l) => shrink(l, 'errors', 3),
  (l) => shrink(l, 'schemas', 10),
  (l) => shrink(l, 'transitions', 5),
  (l) => shrink(l, 'perRole', 10),
  (l) => shrink(l, 'heartbeats', 10),
  (l) => shrink(l, 'availability', 10),
  (l) => shrink(l, 'timeline', 0),
  (l) => shrink(l, 'schemas', 0),
  (l) => shrink(l, 'errors', 1),
  (l) => shrink(l, 'transitions', 1),
  (l) => shrink(l, 'perRole', 1),
  (l) => shrink(l, 'heartbeats', 1),
  (l) => shrink(l, 'availability', 1),
  (l) => shrink(l, 'errors', 0),
  (l) => shrink(l, 'heartbeats', 0),
  (l) => shrink(l, 'perRole', 0),
  (l) => shrink(l, 'availability', 0),
]

function shrink(l: Limits, key: keyof Limits, floor: number): boolean {
  if (l[key] <= floor) return false
  l[key] = Math.max(floor, Math.floor(l[key] / 2))
  return true
}

const isoOf = (ms: number): string => new Date(ms).toISOString()

type Body = Omit<Output, 'session_id' | 'device_id' | 'filter' | 'matched_by' | 'stopped_by' | 'window_seconds' | 'interruptions' | 'notes' | 'truncated'>

function bodyOf(s: DeviceState, b: DeviceAnalysis, l: Limits): Body {
  const topics: Output['topics'] = { telemetry: [], state: [], availability: [], command: [], config: [], other: [] }
  const sorted = [...s.topics.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
  for (const [topic, d] of sorted) {
    // the codec's role keys must cover the reducer's roles: a new DeviceRole fails to compile here
    const role: DeviceRole = b.roles.get(topic) ?? 'other'
    const list = topics[role]
    if (list.length < l.perRole) list.push({ topic, messages: d.messages, retained: d.retained, last_seen: isoOf(d.lastSeen) })
  }
  const timeline = deviceTimeline(s, b)
  const errors = deviceErrors(s)
  const shownErrors = errors.length <= l.errors ? errors : [...errors.slice(0, Math.ceil(l.errors / 2)), ...errors.slice(errors.length - Math.floor(l.errors / 2))]
  return {
    messages_seen: s.matched,
    topic_count: s.topics.size,
    topics,
    availability: b.availability.slice(0, l.availability).map((a) => ({
      topic: a.topic,
      state: a.state,
      raw: a.raw,
      since: isoOf(a.since),
      initial: { state: a.initial.state, at: isoOf(a.initial.at), retained: a.initial.retained },
      transitions: a.transitions.slice(-l.transitions).map((tr) => ({ at: isoOf(tr.at), from: tr.from, to: tr.to })),
      transition_count: a.transition_count,
    })),
    heartbeats: b.heartbeats.slice(0, l.heartbeats).map((h) => ({
      topic: h.topic,
      period_ms: h.period_ms ?? 0,
      jitter_ms: h.jitter_ms ?? 0,
      missed_beats: h.missed_beats,
      messages: h.messages,
      last_at: isoOf(h.last_at),
      silent_ms: h.silent_ms,
    })),
    timeline: timeline.entries.slice(Math.max(0, timeline.entries.length - l.timeline)).map((e) => ({ ...e, at: isoOf(e.at) })),
    timeline_total: timeline.total,
    errors: shownErrors.map((m) => {
      const shown = showPayload(m.payload, l.payloadBytes)
      return {
        at: isoOf(m.receivedAt),
        topic: m.topic,
        payload: shown.payload,
        encoding: shown.encoding,
        size_bytes: shown.size_bytes,
        ...(shown.truncated ? { truncated: true } : {}),
        retained: m.retain,
      }
    }),
    errors_total: s.errorCount,
    schemas: sorted.slice(0, l.schemas).map(([topic, d]) => ({
      topic,
      kind: [...d.kinds].sort().join('|'),
      ...(d.keys.size > 0 ? { keys: [...d.keys].slice(0, l.keys) } : {}),
    })),
  }
}

function notesOf(s: DeviceState, b: DeviceAnalysis, args: { device_id: string; topic_pattern?: string | undefined; duration_seconds: number }): string[] {
  const notes: string[] = []
  if (s.matched === 0) {
    if (args.topic_pattern !== undefined) {
      notes.push(`Nothing was published on ${args.topic_pattern} in ${args.duration_seconds} s and nothing is retained there.`)
    } else {
      notes.push(
        `No topic matched device_id '${args.device_id}' as a whole topic level in ${args.duration_seconds} s (${s.seen} messages seen on #). ` +
          'Try topic_pattern with a filter for the device\'s topics (e.g. its base topic followed by /#), or check the id with mqtt_list_topics.',
      )
    }
    if (s.caseHints.size > 0) notes.push(`Topics with the id in another case (topics are case-sensitive): ${[...s.caseHints].join(', ')}.`)
    return notes
  }
  if (b.availability.length === 0) {
    notes.push('No availability / Last-Will topic was found (online|offline, Online|Offline, {"state":"online"} … on a status/availability/LWT/state topic): disconnects cannot be told from quiet periods.')
  }
  const offline = b.availability.filter((a) => a.state === 'offline')
  for (const a of offline.slice(0, MAX_NOTES_EACH)) notes.push(`${a.topic} says offline since ${isoOf(a.since)}.`)
  if (offline.length > MAX_NOTES_EACH) notes.push(`${offline.length - MAX_NOTES_EACH} more availability topics say offline.`)
  const missing = b.heartbeats.filter((h) => h.missed_beats > 0)
  for (const h of missing.slice(0, MAX_NOTES_EACH)) {
    notes.push(`${h.topic}: ${h.missed_beats} beat(s) missed at a period of ${h.period_ms} ms (silent for the last ${h.silent_ms} ms).`)
  }
  if (missing.length > MAX_NOTES_EACH) notes.push(`${missing.length - MAX_NOTES_EACH} more periodic topics missed beats.`)
  if (s.topics.size >= MAX_TOPICS) notes.push(`Only the first ${MAX_TOPICS} topics are tracked (${s.untrackedMessages} messages on others); narrow topic_pattern.`)
  return notes
}

export const debugDevice = defineTool({
  name: 'mqtt_debug_device',
  title: 'Debug one MQTT device',
  description: [
    'Watches everything the broker shows about one device for duration_seconds (60, 10..600): subscribes to # (QoS 0) and keeps the topics where device_id is a whole topic level (tele/<id>/…, stat/<id>/…, cmnd/<id>/…, zigbee2mqtt/<id>, homeassistant/+/<id>/…, devices/<id>/…), or every topic matching topic_pattern when given.',
    'Returns: topics grouped by role (telemetry, state, availability, command, config, other); availability / Last-Will topics with the current state (online|offline) and every transition {at, from, to} (the first, usually retained, value is the initial state, not a transition);',
    'heartbeats: periodic topics with period_ms (median gap), jitter_ms (median absolute deviation) and missed_beats (gaps over 1.5 periods, and the silence until the window ended);',
    'a timeline of state changes (availability and state/status/POWER-like values), error-looking messages with payload previews, payload kinds and JSON keys per topic, and notes on what to try next. Sends progress each second when the request has a progressToken.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (args, ctx) => {
    if (['+', '#', '\u0000'].some((c) => args.device_id.includes(c))) {
      return E.left(
        err.invalidInput({
          message: 'device_id: a device id cannot contain +, # or U+0000; to match several devices or a layout, use topic_pattern.',
          fields: [{ field: 'device_id', expected: 'the id as it appears as a topic level, e.g. tasmota_pool_pump' }],
        }),
      )
    }
    const filters = validateFilters([{ field: args.topic_pattern !== undefined ? 'topic_pattern' : 'device_id', filter: args.topic_pattern ?? '#' }])
    if (E.isLeft(filters)) return filters
    return withSession(ctx, args.session_id, async (session) => {
      let state: DeviceState | undefined
      const window = await runWindow<DeviceState>(
        ctx,
        // QoS 0: on # the broker may have a lot to say, and queue limits at QoS 1 drop most of it (NOTES.md)
        subscribeAll(session, filters.right, 0),
        { durationMs: args.duration_seconds * 1000, limit: Number.MAX_SAFE_INTEGER },
        deviceStep,
        () => (state = initialDevice(args.device_id, args.topic_pattern)),
        (n) => `${n} messages seen, ${state?.matched ?? 0} from the device`,
      )
      if (E.isLeft(window)) return window
      const w = window.right
      const built = deviceAnalysis(w.state, w.endedAt)
      const head = {
        session_id: session.id,
        device_id: args.device_id,
        filter: filters.right[0]!,
        matched_by: args.topic_pattern !== undefined ? ('topic_pattern' as const) : ('device_id' as const),
        stopped_by: w.stoppedBy,
        window_seconds: Math.round((w.endedAt - w.startedAt) / 100) / 10,
        interruptions: gapsBetween(session, w.startedAt, w.endedAt),
      }
      const notes = notesOf(w.state, built, args)
      const budget = Math.floor(ctx.config.outputBudgetChars * 0.95)
      const limits = { ...FULL }
      let truncated = false
      for (;;) {
        const result: Output = { ...head, ...bodyOf(w.state, built, limits), notes, truncated }
        if (JSON.stringify(result).length <= budget) return E.right(result)
        if (!truncated) {
          truncated = true
          notes.push('Some lists were shortened to fit the output budget; narrow topic_pattern or shorten duration_seconds for the full picture.')
        }
        if (!SHRINK.some((step) => step(limits))) return E.right({ ...result, truncated })
      }
    })
  },
})
