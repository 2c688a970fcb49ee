/**
 * One device's traffic as a pure reducer, for mqtt_debug_device: which of the broker's topics are the device's,
 * what each carries, how its state values change and which of its messages look like errors. It feeds the
 * availability and heartbeat reducers and adds small trackers of its own, every one bounded:
 *
 *   tele/pump/LWT     Online(retained) ────── Offline     → availability transition (availability.ts), not a value
 *   stat/pump/POWER   ON ─────── OFF ──────── OFF         → value change ON→OFF (the first value is the initial state)
 *   tele/pump/STATE   {"POWER":"ON","Uptime":"…"}          → value of the state-like key POWER, keys for the shape
 *   stat/pump/RESULT  {"Error":"timeout"}                  → error: the first ERROR_HEAD and the latest ERROR_TAIL kept
 *
 * Roles (telemetry, state, availability, command, config, other) come from topic names at the end, when the
 * availability and heartbeat views can confirm what the names only suggest. No clock: messages carry
 * `receivedAt`, the analysis takes `now`. The state is mutated in place; create one per window.
 */
import { parseJson, utf8OrUndefined, type PayloadKind } from '../mqtt/payload.js'
import {
  availabilityReports,
  availabilityStep,
  initialAvailability,
  isAvailabilityName,
  parseAvailability,
  type AvailabilityReport,
  type AvailabilityState,
} from './availability.js'
import { heartbeatsOf, heartbeatStep, initialHeartbeat, type Heartbeat, type HeartbeatState } from './heartbeat.js'
import { looksLikeError } from './prune.js'
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** What one of the device's topics is for, judged from its name (see `roleOf`). */
export type DeviceRole = 'telemetry' | 'state' | 'availability' | 'command' | 'config' | 'other'

/** Topics tracked per device (also the availability and heartbeat reducers' limit); later topics are counted only. */
export const MAX_TOPICS = 500
/** (topic, key) pairs whose value is remembered; a pair first seen beyond this never yields changes. */
export const MAX_VALUES = 500
/** Value changes kept, the latest; `changeCount` counts them all. */
export const MAX_CHANGES = 200
/** Error-looking messages kept from the start of the window. */
export const ERROR_HEAD = 5
/** Error-looking messages kept from the end of the window, after the first ERROR_HEAD. */
export const ERROR_TAIL = 15
/** Messages per topic whose payload kind and JSON keys are recorded: a shape settles within a few. */
export const SCHEMA_SAMPLES = 20
/** JSON keys recorded per topic. */
export const MAX_KEYS = 20
/** Topics holding the id in another case, kept as hints for a caller whose id matched nothing. */
export const MAX_CASE_HINTS = 5
/** Payloads up to this many bytes are parsed for state values and shapes; larger ones are classified by size only. */
export const PARSE_LIMIT = 4096
/** State values longer than this many characters (or bytes, for a plain payload) are measurements or blobs, not states. */
export const VALUE_CHARS = 64

/** One of the device's topics: counts and the payload shape of its first SCHEMA_SAMPLES messages; times in ms. */
export interface DeviceTopic {
  /** Live messages (retained replays only set `retained`). */
  messages: number
  retained: boolean
  lastSeen: number
  sampled: number
  readonly kinds: Set<PayloadKind>
  readonly keys: Set<string>
}

/** A state value that changed: `key` is the JSON key, null for a plain payload; `at` in ms since the epoch. */
export interface ValueChange {
  readonly at: number
  readonly topic: string
  readonly key: string | null
  readonly from: string
  readonly to: string
}

/** The reducer's state, mutated in place; every part is bounded by the constants above. */
export interface DeviceState {
  readonly deviceId: string
  /** Matches a message's topic to the device. */
  readonly matches: (topic: string) => boolean
  /** Matches topics that hold the id in another case (hints for the notes); undefined with a topic pattern. */
  readonly looselyMatches: ((topic: string) => boolean) | undefined
  /** Messages folded in, the device's or not. */
  seen: number
  /** The device's messages. */
  matched: number
  readonly topics: Map<string, DeviceTopic>
  /** The device's messages on topics beyond MAX_TOPICS. */
  untrackedMessages: number
  readonly availability: AvailabilityState
  readonly heartbeat: HeartbeatState
  /** The last value per `topic\0key`. */
  readonly values: Map<string, string>
  readonly changes: ValueChange[]
  changeCount: number
  readonly errorHead: Message[]
  readonly errorTail: Message[]
  errorCount: number
  readonly caseHints: Set<string>
}

/** What the final state says once the window is over: availability topics, periodic topics and every topic's role. */
export interface DeviceAnalysis {
  readonly availability: readonly AvailabilityReport[]
  /** Only the topics that beat periodically. */
  readonly heartbeats: readonly Heartbeat[]
  readonly roles: ReadonlyMap<string, DeviceRole>
}

/** One state change; `at` in ms since the epoch. */
export interface TimelineEntry {
  readonly at: number
  readonly topic: string
  readonly key: string | null
  readonly from: string
  readonly to: string
  readonly kind: 'availability' | 'value'
}

// -------------------------------------------------------------------------------------
// matching and roles
// -------------------------------------------------------------------------------------

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** True when `id` is one whole topic level of `topic` (or several consecutive ones, when it contains /). */
export function hasLevel(topic: string, id: string): boolean {
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

/**
 * The role of one of the device's topics from its name (Tasmota, Zigbee2MQTT, Home Assistant, devices/<id>/…),
 * first rule that applies: availability, command, config, state, telemetry, other. The hints say what the
 * traffic showed: a recognised availability topic, or one that beats periodically (telemetry when its name says nothing).
 */
export function roleOf(topic: string, deviceId: string, hints: { availability: boolean; periodic: boolean }): DeviceRole {
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
// constructors
// -------------------------------------------------------------------------------------

/**
 * An empty state for `deviceId`. Without `topicPattern` a topic is the device's when the id is a whole level of
 * it; with one, every message is (the subscription to that pattern has already chosen them).
 */
export function initialDevice(deviceId: string, topicPattern?: string): DeviceState {
  const loose = topicPattern === undefined ? new RegExp(`(?:^|/)${escapeRegExp(deviceId)}(?:/|$)`, 'i') : undefined
  return {
    deviceId,
    matches: topicPattern === undefined ? (topic) => hasLevel(topic, deviceId) : () => true,
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

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** Folds one message into the state (in place) and returns it; messages on other devices' topics only count as seen. */
export function deviceStep(s: DeviceState, m: Message): DeviceState {
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
  // a large payload is judged by its start: decoding all of it costs more than the answer is worth
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
    // the first value is the initial state: nothing is known about what came before it
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
// destructors
// -------------------------------------------------------------------------------------

/** The availability topics, the periodic topics at `now` (ms since the epoch) and every tracked topic's role. */
export function deviceAnalysis(s: DeviceState, now: number): DeviceAnalysis {
  const availability = availabilityReports(s.availability)
  const heartbeats = heartbeatsOf(s.heartbeat, now).filter((h) => h.periodic)
  const availabilityTopics = new Set(availability.map((a) => a.topic))
  const periodicTopics = new Set(heartbeats.map((h) => h.topic))
  const roles = new Map<string, DeviceRole>()
  for (const topic of s.topics.keys()) {
    roles.set(topic, roleOf(topic, s.deviceId, { availability: availabilityTopics.has(topic), periodic: periodicTopics.has(topic) }))
  }
  return { availability, heartbeats, roles }
}

/**
 * The state changes in time order, availability transitions and value changes merged (the ones still kept:
 * the latest per availability topic and the latest MAX_CHANGES values), and `total`, every change seen.
 */
export function deviceTimeline(s: DeviceState, a: DeviceAnalysis): { entries: TimelineEntry[]; total: number } {
  const entries: TimelineEntry[] = []
  for (const r of a.availability) {
    for (const tr of r.transitions) entries.push({ at: tr.at, topic: r.topic, key: null, from: tr.from, to: tr.to, kind: 'availability' })
  }
  for (const c of s.changes) entries.push({ at: c.at, topic: c.topic, key: c.key, from: c.from, to: c.to, kind: 'value' })
  // stable: at equal times availability comes before values, as it was pushed
  entries.sort((x, y) => x.at - y.at)
  return { entries, total: s.changeCount + a.availability.reduce((n, r) => n + r.transition_count, 0) }
}

/** The error-looking messages kept, in arrival order: the first ERROR_HEAD, then the latest ERROR_TAIL. */
export function deviceErrors(s: DeviceState): Message[] {
  return [...s.errorHead, ...s.errorTail]
}

/** Sizes of what the state holds, for tests that prove it stays bounded. */
export function deviceStateSize(s: DeviceState): { topics: number; keys: number; values: number; changes: number; errors: number; caseHints: number } {
  let keys = 0
  for (const d of s.topics.values()) keys += d.keys.size
  return {
    topics: s.topics.size,
    keys,
    values: s.values.size,
    changes: s.changes.length,
    errors: s.errorHead.length + s.errorTail.length,
    caseHints: s.caseHints.size,
  }
}
