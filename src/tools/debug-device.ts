/**
 * mqtt_debug_device: everything the broker shows about one device in a window: its topics by role,
 * availability / Last-Will state with every transition, heartbeats, a timeline of state changes, errors and
 * payload shapes. One subscription (QoS 0) to `#` or to the caller's topic_pattern; the per-device reducer
 * below combines the stream reducers (availability, heartbeat) with small bounded trackers of its own.
 *
 *   #  ──keep topics with the device id as a whole level──▶  deviceStep ──▶ availability · heartbeat ·
 *                                                             topics · values (timeline) · errors · shapes
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import * as err from '../errors.js'
import { described, int, object, optional, str } from '../mcp/codec.js'
import { parseJson, showPayload, utf8OrUndefined, type PayloadKind } from '../mqtt/payload.js'
import {
  availabilityReports,
  availabilityStep,
  initialAvailability,
  isAvailabilityName,
  parseAvailability,
  type AvailabilityReport,
  type AvailabilityState,
} from '../streams/availability.js'
import { heartbeatsOf, heartbeatStep, initialHeartbeat, type Heartbeat, type HeartbeatState } from '../streams/heartbeat.js'
import { looksLikeError } from '../streams/prune.js'
import type { Message } from '../streams/types.js'
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
type Role = keyof Output['topics']

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

const MAX_TOPICS = 500
const MAX_VALUES = 500
const MAX_CHANGES = 200
const ERROR_HEAD = 5
const ERROR_TAIL = 15
const SCHEMA_SAMPLES = 20
const MAX_KEYS = 20
const MAX_CASE_HINTS = 5
const MAX_NOTES_EACH = 5
/** Payloads up to this size are parsed for state values and shapes; larger ones are classified by size only. */
const PARSE_LIMIT = 4096
const VALUE_CHARS = 64

interface DeviceTopic {
  messages: number
  retained: boolean
  lastSeen: number
  sampled: number
  readonly kinds: Set<PayloadKind>
  readonly keys: Set<string>
}

interface ValueChange {
  readonly at: number
  readonly topic: string
  readonly key: string | null
  readonly from: string
  readonly to: string
}

/** The per-device reducer's state, mutated in place; every part is bounded. */
interface DeviceState {
  /** Matches a message's topic to the device. */
  readonly matches: (topic: string) => boolean
  /** Matches topics that hold the id in another case (hints for the notes); undefined with topic_pattern. */
  readonly looselyMatches: ((topic: string) => boolean) | undefined
  seen: number
  matched: number
  readonly topics: Map<string, DeviceTopic>
  untrackedMessages: number
  readonly availability: AvailabilityState
  readonly heartbeat: HeartbeatState
  readonly values: Map<string, string>
  readonly changes: ValueChange[]
  changeCount: number
  readonly errorHead: Message[]
  readonly errorTail: Message[]
  errorCount: number
  readonly caseHints: Set<string>
}

// -------------------------------------------------------------------------------------
// matching and roles
// -------------------------------------------------------------------------------------

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** True when `id` is one whole topic level of `topic` (or several consecutive ones, when it contains /). */
function hasLevel(topic: string, id: string): boolean {
  if (topic === id) return true
  if (topic.startsWith(`${id}/`) || topic.endsWith(`/${id}`)) return true
  return topic.includes(`/${id}/`)
}

const AVAILABILITY_LEVELS = new Set(['lwt', 'availability', 'available', 'online', 'connected', 'connection'])
const COMMAND_LEVELS = new Set(['set', 'get', 'cmd', 'cmnd', 'command', 'commands'])
const CONFIG_LEVELS = new Set(['config', 'configuration', 'settings', 'attributes', 'capabilities', 'meta', 'info'])
const STATE_LEVELS = new Set(['state', 'status', 'result', 'power'])
const TELEMETRY_LEVELS = new Set(['telemetry', 'tele', 'sensor', 'sensors', 'heartbeat', 'metrics', 'measurement', 'measurements', 'data', 'values', 'readings'])

const levelsOf = (topic: string): string[] => topic.toLowerCase().split('/')

/** True when the topic's name says it carries state (Tasmota stat/…, …/state, …/status, …/POWER1). */
function stateNamed(topic: string): boolean {
  const levels = levelsOf(topic)
  const last = levels[levels.length - 1] ?? ''
  return levels[0] === 'stat' || STATE_LEVELS.has(last) || /^power\d+$/.test(last)
}

/** The role of one of the device's topics, from its name (and whether it is a recognised availability or periodic topic). */
function roleOf(topic: string, deviceId: string, hints: { availability: boolean; periodic: boolean }): Role {
  const levels = levelsOf(topic)
  const first = levels[0] ?? ''
  const last = levels[levels.length - 1] ?? ''
  if (hints.availability || AVAILABILITY_LEVELS.has(last)) return 'availability'
  if (first === 'cmnd' || COMMAND_LEVELS.has(last)) return 'command'
  if (CONFIG_LEVELS.has(last) || /^info\d+$/.test(last)) return 'config'
  // zigbee2mqtt/<id>: the device's own topic holds its state
  if (first === 'stat' || STATE_LEVELS.has(last) || /^power\d+$/.test(last) || topic.endsWith(`/${deviceId}`)) return 'state'
  if (first === 'tele' || TELEMETRY_LEVELS.has(last) || hints.periodic) return 'telemetry'
  return 'other'
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

function initialDevice(deviceId: string, pattern: string | undefined): DeviceState {
  const loose = pattern === undefined ? new RegExp(`(?:^|/)${escapeRegExp(deviceId)}(?:/|$)`, 'i') : undefined
  return {
    matches: pattern === undefined ? (topic) => hasLevel(topic, deviceId) : () => true,
    looselyMatches: loose === undefined ? undefined : (topic) => loose.test(topic),
    seen: 0,
    matched: 0,
    topics: new Map(),
    untrackedMessages: 0,
    availability: initialAvailability({ maxTopics: MAX_TOPICS }),
    heartbeat: initialHeartbeat({ maxTopics: MAX_TOPICS }),
    values: new Map(),
    changes: [],
    changeCount: 0,
    errorHead: [],
    errorTail: [],
    errorCount: 0,
    caseHints: new Set(),
  }
}

function deviceStep(s: DeviceState, m: Message): DeviceState {
  s.seen++
  if (!s.matches(m.topic)) {
    // hints only matter while nothing matched exactly: the notes show them only then
    if (s.matched === 0 && s.looselyMatches !== undefined && s.caseHints.size < MAX_CASE_HINTS && s.looselyMatches(m.topic)) s.caseHints.add(m.topic)
    return s
  }
  s.matched++
  availabilityStep(s.availability, m)
  heartbeatStep(s.heartbeat, m)
  const parsed = m.payload.length > 0 && m.payload.length <= PARSE_LIMIT ? parseJson(m.payload) : undefined
  trackTopic(s, m, parsed)
  const isAvailabilityValue = isAvailabilityName(m.topic) && parseAvailability(m.payload) !== undefined
  // availability values are the availability tracker's: as transitions, not as values or errors ("offline")
  if (!isAvailabilityValue) {
    trackValues(s, m, parsed)
    if (looksLikeError(m.topic, m.payload)) {
      s.errorCount++
      if (s.errorHead.length < ERROR_HEAD) s.errorHead.push(m)
      else {
        s.errorTail.push(m)
        if (s.errorTail.length > ERROR_TAIL) s.errorTail.shift()
      }
    }
  }
  return s
}

function trackTopic(s: DeviceState, m: Message, parsed: { value: unknown } | undefined): void {
  let d = s.topics.get(m.topic)
  if (d === undefined) {
    if (s.topics.size >= MAX_TOPICS) {
      s.untrackedMessages++
      return
    }
    d = { messages: 0, retained: false, lastSeen: m.receivedAt, sampled: 0, kinds: new Set(), keys: new Set() }
    s.topics.set(m.topic, d)
  }
  if (m.retain) d.retained = true
  else d.messages++
  d.lastSeen = Math.max(d.lastSeen, m.receivedAt)
  if (d.sampled >= SCHEMA_SAMPLES) return
  d.sampled++
  d.kinds.add(kindOf(m.payload, parsed))
  const v = parsed?.value
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const key of Object.keys(v)) {
      if (d.keys.size >= MAX_KEYS) break
      d.keys.add(key)
    }
  }
}

function kindOf(payload: Buffer, parsed: { value: unknown } | undefined): PayloadKind {
  if (payload.length === 0) return 'empty'
  if (parsed !== undefined) return typeof parsed.value === 'number' ? 'number' : 'json'
  if (payload.length > PARSE_LIMIT) return utf8OrUndefined(payload.subarray(0, 64)) === undefined ? 'binary' : 'text'
  return utf8OrUndefined(payload) === undefined ? 'binary' : 'text'
}

/** JSON keys whose values are states worth a timeline entry when they change. */
const STATE_KEY = /^(?:state|status|power\d*|switch\d*|relay\d*|door|contact|lock|mode|running)$/i

function trackValues(s: DeviceState, m: Message, parsed: { value: unknown } | undefined): void {
  const v = parsed?.value
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [key, x] of Object.entries(v)) {
      if (!STATE_KEY.test(key)) continue
      const text = valueText(x)
      if (text !== undefined) noteValue(s, m, key, text)
    }
    return
  }
  if (!stateNamed(m.topic) || m.payload.length === 0 || m.payload.length > VALUE_CHARS) return
  const text = parsed !== undefined ? valueText(parsed.value) : utf8OrUndefined(m.payload)?.trim()
  if (text !== undefined && text !== '') noteValue(s, m, null, text)
}

/** A state value as text: short strings, booleans and integers; measurements (fractions) are not states. */
function valueText(x: unknown): string | undefined {
  if (typeof x === 'string') return x.length <= VALUE_CHARS ? x : undefined
  if (typeof x === 'boolean') return String(x)
  if (typeof x === 'number' && Number.isInteger(x)) return String(x)
  return undefined
}

function noteValue(s: DeviceState, m: Message, key: string | null, value: string): void {
  const id = `${m.topic}\u0000${key ?? ''}`
  const before = s.values.get(id)
  if (before === undefined) {
    if (s.values.size < MAX_VALUES) s.values.set(id, value)
    return
  }
  if (before === value) return
  s.values.set(id, value)
  s.changeCount++
  s.changes.push({ at: m.receivedAt, topic: m.topic, key, from: before, to: value })
  if (s.changes.length > MAX_CHANGES) s.changes.shift()
}

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

interface Built {
  readonly availability: AvailabilityReport[]
  readonly heartbeats: Heartbeat[]
  readonly roles: Map<string, Role>
}

function analyse(s: DeviceState, deviceId: string, now: number): Built {
  const availability = availabilityReports(s.availability)
  const periodic = heartbeatsOf(s.heartbeat, now).filter((h) => h.periodic)
  const availabilityTopics = new Set(availability.map((a) => a.topic))
  const periodicTopics = new Set(periodic.map((h) => h.topic))
  const roles = new Map<string, Role>()
  for (const topic of s.topics.keys()) {
    roles.set(topic, roleOf(topic, deviceId, { availability: availabilityTopics.has(topic), periodic: periodicTopics.has(topic) }))
  }
  return { availability, heartbeats: periodic, roles }
}

type Body = Omit<Output, 'session_id' | 'device_id' | 'filter' | 'matched_by' | 'stopped_by' | 'window_seconds' | 'interruptions' | 'notes' | 'truncated'>

function bodyOf(s: DeviceState, b: Built, l: Limits): Body {
  const topics: Output['topics'] = { telemetry: [], state: [], availability: [], command: [], config: [], other: [] }
  const sorted = [...s.topics.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
  for (const [topic, d] of sorted) {
    const list = topics[b.roles.get(topic) ?? 'other']
    if (list.length < l.perRole) list.push({ topic, messages: d.messages, retained: d.retained, last_seen: isoOf(d.lastSeen) })
  }
  const timeline: Array<Output['timeline'][number] & { ms: number }> = []
  for (const a of b.availability) {
    for (const tr of a.transitions) timeline.push({ ms: tr.at, at: isoOf(tr.at), topic: a.topic, key: null, from: tr.from, to: tr.to, kind: 'availability' })
  }
  for (const c of s.changes) timeline.push({ ms: c.at, at: isoOf(c.at), topic: c.topic, key: c.key, from: c.from, to: c.to, kind: 'value' })
  timeline.sort((x, y) => x.ms - y.ms)
  const timelineTotal = s.changeCount + b.availability.reduce((n, a) => n + a.transition_count, 0)
  const errors = [...s.errorHead, ...s.errorTail]
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
    timeline: timeline.slice(Math.max(0, timeline.length - l.timeline)).map(({ ms: _ms, ...e }) => e),
    timeline_total: timelineTotal,
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

function notesOf(s: DeviceState, b: Built, args: { device_id: string; topic_pattern?: string | undefined; duration_seconds: number }): string[] {
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
      const built = analyse(w.state, args.device_id, w.endedAt)
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
