/**
 * Availability and Last-Will detection as a pure reducer. A topic is an availability topic when its last
 * level names one (status, availability, available, lwt, state, online, connected; any case, alone or as a
 * `_`/`-`/`.` separated word such as `bridge_state`) and every non-empty payload on it says online or offline:
 *
 *   online  ← online · connected · available · true · 1 · {"state":"online"} · {"status":"connected"} · {"online":true}
 *   offline ← offline · disconnected · unavailable · false · 0 · {"state":"offline"} · …          (any case, trimmed)
 *
 * The first payload seen on a topic (usually the retained one replayed on subscribe) is its initial state, not
 * a transition; later payloads that change the state are transitions `{ at, from, to }`, the latest
 * `maxTransitions` kept per topic. A payload that says neither (`{"temp":21}`, `heating`) demotes the topic for
 * good: it carries state values, not availability. Bounded by `maxTopics`; no clock, state mutated in place.
 *
 *   devices/x/availability:  online(retained) --- offline --- online
 *   result:                  initial online, transitions [online→offline, offline→online], state online
 */
import { mayBeJson, parseJson } from '../mqtt/payload.js'
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type AvailabilityValue = 'online' | 'offline'

/** One change of state; `at` in ms since the epoch. */
export interface AvailabilityTransition {
  readonly at: number
  readonly from: AvailabilityValue
  readonly to: AvailabilityValue
}

/** Limits: `maxTopics` candidate topics (default 1000), `maxTransitions` kept per topic (default 50, the latest). */
export interface AvailabilityOptions {
  readonly maxTopics?: number
  readonly maxTransitions?: number
}

interface TopicAvailability {
  state: AvailabilityValue
  /** The last recognised payload as sent (trimmed, at most 64 characters). */
  raw: string
  /** When the current state began (the first message, or the last transition). */
  since: number
  lastAt: number
  readonly initial: { readonly state: AvailabilityValue; readonly at: number; readonly retained: boolean }
  readonly transitions: AvailabilityTransition[]
  transitionCount: number
  messages: number
}

/** The reducer's state. Demoted topics are remembered so they never come back as availability topics. */
export interface AvailabilityState {
  readonly maxTopics: number
  readonly maxTransitions: number
  readonly topics: Map<string, TopicAvailability | 'demoted'>
  /** Candidate topics turned away because `maxTopics` were already known. */
  untracked: number
}

/** One availability topic as the tools show it; times in ms since the epoch. */
export interface AvailabilityReport {
  readonly topic: string
  readonly state: AvailabilityValue
  readonly raw: string
  readonly since: number
  readonly last_at: number
  readonly messages: number
  readonly initial: { readonly state: AvailabilityValue; readonly at: number; readonly retained: boolean }
  /** The latest transitions, oldest first. */
  readonly transitions: readonly AvailabilityTransition[]
  /** Every transition seen, including those no longer kept. */
  readonly transition_count: number
}

export const DEFAULT_MAX_TOPICS = 1000
export const DEFAULT_MAX_TRANSITIONS = 50
/** Longer payloads are not availability values: never decoded or parsed. */
const MAX_VALUE_BYTES = 256
const RAW_CHARS = 64

const NAME = /(?:^|[_.-])(?:status|availability|available|lwt|state|online|connected)(?:$|[_.-])/i
const ONLINE = new Set(['online', 'connected', 'available', 'true', '1'])
const OFFLINE = new Set(['offline', 'disconnected', 'unavailable', 'false', '0'])
const JSON_KEYS = ['state', 'status', 'availability', 'online', 'connected'] as const

// -------------------------------------------------------------------------------------
// classification
// -------------------------------------------------------------------------------------

/** True when the topic's last level names an availability topic (`…/availability`, `tele/x/LWT`, `…/bridge_state`). */
export function isAvailabilityName(topic: string): boolean {
  return NAME.test(topic.slice(topic.lastIndexOf('/') + 1))
}

/** What an availability payload says, or undefined when it says neither online nor offline (empty payloads too). */
export function parseAvailability(payload: Buffer): AvailabilityValue | undefined {
  if (payload.length === 0 || payload.length > MAX_VALUE_BYTES) return undefined
  const first = firstByte(payload)
  if (first === 0x7b || first === 0x22) {
    const json = mayBeJson(payload) ? parseJson(payload) : undefined
    if (json === undefined) return undefined
    return valueOf(json.value)
  }
  return wordOf(payload.toString('utf8'))
}

function valueOf(v: unknown): AvailabilityValue | undefined {
  if (typeof v === 'string') return wordOf(v)
  if (typeof v === 'boolean') return v ? 'online' : 'offline'
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>
    for (const key of JSON_KEYS) {
      const x = o[key]
      if (typeof x === 'string' || typeof x === 'boolean') return valueOf(x)
    }
  }
  return undefined
}

function wordOf(text: string): AvailabilityValue | undefined {
  const w = text.trim().toLowerCase()
  return ONLINE.has(w) ? 'online' : OFFLINE.has(w) ? 'offline' : undefined
}

function firstByte(buf: Buffer): number {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b
  }
  return -1
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** An empty state; throws RangeError on limits that are not positive integers. */
export function initialAvailability(opts: AvailabilityOptions = {}): AvailabilityState {
  const maxTopics = opts.maxTopics ?? DEFAULT_MAX_TOPICS
  const maxTransitions = opts.maxTransitions ?? DEFAULT_MAX_TRANSITIONS
  for (const [name, v] of [['maxTopics', maxTopics], ['maxTransitions', maxTransitions]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`)
  }
  return { maxTopics, maxTransitions, topics: new Map(), untracked: 0 }
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** Folds one message into the state (in place) and returns it. */
export function availabilityStep(state: AvailabilityState, m: Message): AvailabilityState {
  // an empty payload clears a retained message: it says nothing about the device
  if (m.payload.length === 0 || !isAvailabilityName(m.topic)) return state
  const known = state.topics.get(m.topic)
  if (known === 'demoted') return state
  const value = parseAvailability(m.payload)
  if (known === undefined) {
    if (state.topics.size >= state.maxTopics) {
      state.untracked++
      return state
    }
    if (value === undefined) {
      state.topics.set(m.topic, 'demoted')
      return state
    }
    // the first value is the initial state, retained or not: nothing is known about what came before it
    state.topics.set(m.topic, {
      state: value, raw: rawOf(m.payload), since: m.receivedAt, lastAt: m.receivedAt,
      initial: { state: value, at: m.receivedAt, retained: m.retain }, transitions: [], transitionCount: 0, messages: 1,
    })
    return state
  }
  if (value === undefined) {
    state.topics.set(m.topic, 'demoted')
    return state
  }
  known.messages++
  known.lastAt = Math.max(known.lastAt, m.receivedAt)
  known.raw = rawOf(m.payload)
  if (value !== known.state) {
    known.transitions.push({ at: m.receivedAt, from: known.state, to: value })
    if (known.transitions.length > state.maxTransitions) known.transitions.shift()
    known.transitionCount++
    known.state = value
    known.since = m.receivedAt
  }
  return state
}

function rawOf(payload: Buffer): string {
  const text = payload.toString('utf8').trim()
  return text.length > RAW_CHARS ? text.slice(0, RAW_CHARS) : text
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** The availability of one topic, or undefined when it is not (or no longer) an availability topic. */
export function availabilityOf(state: AvailabilityState, topic: string): AvailabilityReport | undefined {
  const a = state.topics.get(topic)
  if (a === undefined || a === 'demoted') return undefined
  return {
    topic,
    state: a.state,
    raw: a.raw,
    since: a.since,
    last_at: a.lastAt,
    messages: a.messages,
    initial: a.initial,
    transitions: [...a.transitions],
    transition_count: a.transitionCount,
  }
}

/** Every availability topic, in topic order. */
export function availabilityReports(state: AvailabilityState): AvailabilityReport[] {
  const out: AvailabilityReport[] = []
  for (const topic of [...state.topics.keys()].sort()) {
    const r = availabilityOf(state, topic)
    if (r !== undefined) out.push(r)
  }
  return out
}
