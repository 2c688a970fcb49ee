/**
 * Broker identity and health from `$SYS`, as a pure reducer and a mapper. `sysStep` keeps the latest value of
 * each `$SYS` topic (bounded) and the first and last live sample, so counters can become rates;
 * `brokerStatsView` maps the names of Mosquitto, aedes (with aedes-stats), EMQX and HiveMQ's sys-topic plugin
 * onto one shape, with null for every figure the broker does not publish. No RxJS and no clock here.
 *
 *   $SYS messages ──sysStep──▶ SysIndex (Map topic → samples) ──brokerStatsView──▶ BrokerStats
 */
import { utf8OrUndefined } from '../mqtt/payload.js'
import type { Message } from './types.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One value of a `$SYS` topic; `at` is when we received it (ms since the epoch). */
export interface SysSample {
  readonly value: string
  readonly at: number
}

/** What the index keeps for one `$SYS` topic; mutated in place by `sysStep`. */
export interface SysEntry {
  /** The latest value, live or retained. */
  last: SysSample
  /** True when `last` is a retained replay (the value of the broker's previous tick), not a live update. */
  retained: boolean
  /** First and latest live (non-retained) samples: counters become rates only between live samples. */
  firstLive: SysSample | undefined
  lastLive: SysSample | undefined
}

/** The state of a `$SYS` window: at most `maxTopics` topics. */
export interface SysIndex {
  readonly maxTopics: number
  readonly topics: Map<string, SysEntry>
  /** `$SYS` messages seen (live and retained). */
  messages: number
  /** A topic was turned away because `maxTopics` topics were already indexed. */
  truncated: boolean
}

export type BrokerProduct = 'mosquitto' | 'aedes' | 'emqx' | 'hivemq' | 'unknown'

/** Broker figures in one shape; null where the broker does not publish the figure (or not within the window). */
export interface BrokerStats {
  broker: BrokerProduct
  version: string | null
  uptime_seconds: number | null
  clients_connected: number | null
  messages_received_per_second: number | null
  messages_sent_per_second: number | null
  bytes_received_per_second: number | null
  bytes_sent_per_second: number | null
  subscriptions: number | null
  retained_messages: number | null
  dropped_messages: number | null
  /** Distinct `$SYS` topics seen. */
  sys_topics: number
  /** The `$SYS` topics seen with their latest values, sorted, at most `maxRaw`. */
  raw: Array<{ topic: string; value: string; retained: boolean }>
  /** More `$SYS` topics were seen than `raw` shows. */
  raw_truncated: boolean
  notes: string[]
}

export interface ViewOptions {
  /** The window length, quoted in notes. */
  readonly durationSeconds: number
  /** Most `raw` entries (default 200). */
  readonly maxRaw?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const DEFAULT_MAX_TOPICS = 2000
const DEFAULT_MAX_RAW = 200
/** Longest value kept per topic, in UTF-16 units (EMQX client events carry JSON). */
const MAX_VALUE_CHARS = 200

/** An empty index keeping at most `maxTopics` (default 2000) topics. */
export function initialSysIndex(opts: { maxTopics?: number } = {}): SysIndex {
  return { maxTopics: opts.maxTopics ?? DEFAULT_MAX_TOPICS, topics: new Map(), messages: 0, truncated: false }
}

// -------------------------------------------------------------------------------------
// reducer
// -------------------------------------------------------------------------------------

/** Folds one `$SYS` message into the index (in place) and returns it. */
export function sysStep(index: SysIndex, m: Message): SysIndex {
  index.messages++
  let e = index.topics.get(m.topic)
  const sample: SysSample = { value: valueOf(m.payload), at: m.receivedAt }
  if (e === undefined) {
    if (index.topics.size >= index.maxTopics) {
      index.truncated = true
      return index
    }
    e = { last: sample, retained: m.retain, firstLive: undefined, lastLive: undefined }
    index.topics.set(m.topic, e)
  }
  e.last = sample
  e.retained = m.retain
  if (!m.retain) {
    e.firstLive ??= sample
    e.lastLive = sample
  }
  return index
}

function valueOf(payload: Buffer): string {
  const text = utf8OrUndefined(payload.length > MAX_VALUE_CHARS * 4 ? payload.subarray(0, MAX_VALUE_CHARS * 4) : payload)
  if (text === undefined) return `<binary ${payload.length} bytes>`
  const trimmed = text.trim()
  return trimmed.length > MAX_VALUE_CHARS ? `${trimmed.slice(0, MAX_VALUE_CHARS)}…` : trimmed
}

// -------------------------------------------------------------------------------------
// mapping
// -------------------------------------------------------------------------------------

/** How one broker family names its figures, below its `$SYS` prefix. */
interface Family {
  readonly broker: BrokerProduct
  /** `$SYS/broker/`, `$SYS/brokers/<node>/` or `$SYS/<aedes id>/`. */
  readonly prefix: string
}

const MOSQUITTO_PREFIX = '$SYS/broker/'
const EMQX_PREFIX = '$SYS/brokers/'
/** What aedes itself publishes (heartbeat, birth, client events) and what the aedes-stats plugin adds. */
const AEDES_SUFFIXES = ['heartbeat', 'birth', 'new/clients', 'disconnect/clients', 'uptime', 'time', 'clients/total', 'clients/maximum', 'messages/publish/sent']
const AEDES_STATS_SUFFIXES = ['uptime', 'clients/total', 'messages/publish/sent']

/** Maps the `$SYS` topics seen onto one shape. */
export function brokerStatsView(index: SysIndex, opts: ViewOptions): BrokerStats {
  const maxRaw = opts.maxRaw ?? DEFAULT_MAX_RAW
  const sorted = [...index.topics.keys()].sort()
  const raw = sorted.slice(0, maxRaw).map((topic) => {
    const e = index.topics.get(topic)!
    return { topic, value: e.last.value, retained: e.retained }
  })
  const base: BrokerStats = {
    broker: 'unknown',
    version: null,
    uptime_seconds: null,
    clients_connected: null,
    messages_received_per_second: null,
    messages_sent_per_second: null,
    bytes_received_per_second: null,
    bytes_sent_per_second: null,
    subscriptions: null,
    retained_messages: null,
    dropped_messages: null,
    sys_topics: index.topics.size,
    raw,
    raw_truncated: sorted.length > maxRaw || index.truncated,
    notes: [],
  }
  if (index.topics.size === 0) {
    base.notes.push(
      `This broker published no $SYS topics in ${opts.durationSeconds} s; it may not support them (RabbitMQ, HiveMQ), may deny $SYS to this client (ACL; EMQX allows it only from localhost by default), or publishes them less often (Mosquitto every sys_interval, 10 s by default; EMQX every minute) — try a longer duration_seconds.`,
    )
    return base
  }
  const family = detectFamily(sorted, index)
  const stats = family === undefined ? base : mapFamily(family, index, base)
  if (family === undefined) {
    stats.notes.push('The $SYS topics seen follow no layout this tool knows (Mosquitto, aedes, EMQX, HiveMQ); see raw for their values.')
  }
  if ([...index.topics.values()].every((e) => e.retained)) {
    stats.notes.push(
      `Every value came from the broker's retained $SYS snapshot (its previous tick), none live within ${opts.durationSeconds} s: figures may be stale; a longer duration_seconds waits for the next tick.`,
    )
  }
  if (index.truncated) stats.notes.push(`Only the first ${index.maxTopics} $SYS topics were kept.`)
  return stats
}

function detectFamily(topics: readonly string[], index: SysIndex): Family | undefined {
  if (topics.some((t) => t.startsWith(MOSQUITTO_PREFIX))) {
    const version = index.topics.get(`${MOSQUITTO_PREFIX}version`)?.last.value ?? ''
    // HiveMQ's sys-topic plugin copies Mosquitto's names; only the version text tells them apart
    const broker: BrokerProduct = /mosquitto/i.test(version) ? 'mosquitto' : /hivemq/i.test(version) ? 'hivemq' : 'unknown'
    return { broker, prefix: MOSQUITTO_PREFIX }
  }
  const nodes = [...new Set(topics.filter((t) => t.startsWith(EMQX_PREFIX)).map((t) => t.split('/')[2] ?? ''))].filter((n) => n !== '')
  if (nodes.length > 0) {
    // a cluster publishes per node: the node that told its version speaks for the broker
    const node = nodes.find((n) => index.topics.has(`${EMQX_PREFIX}${n}/version`)) ?? nodes[0]!
    return { broker: 'emqx', prefix: `${EMQX_PREFIX}${node}/` }
  }
  for (const t of topics) {
    const slash = t.indexOf('/', 5)
    if (slash < 0) continue
    const suffix = t.slice(slash + 1)
    if (AEDES_SUFFIXES.includes(suffix)) return { broker: 'aedes', prefix: t.slice(0, slash + 1) }
  }
  return undefined
}

function mapFamily(f: Family, index: SysIndex, base: BrokerStats): BrokerStats {
  const value = (name: string): string | undefined => index.topics.get(f.prefix + name)?.last.value
  const num = (name: string): number | null => toNumber(value(name))
  const first = (...xs: Array<number | null>): number | null => xs.find((x) => x !== null) ?? null
  const perMinute = (name: string): number | null => {
    const n = num(name)
    return n === null ? null : round(n / 60)
  }
  const rate = (name: string): number | null => counterRate(index.topics.get(f.prefix + name))
  const out: BrokerStats = { ...base, broker: f.broker }
  switch (f.broker) {
    case 'emqx': {
      out.version = value('version') ?? null
      out.uptime_seconds = emqxUptime(value('uptime'))
      out.clients_connected = first(num('stats/connections/count'), num('stats/clients/count'))
      out.subscriptions = num('stats/subscriptions/count')
      out.retained_messages = num('stats/retained/count')
      out.dropped_messages = num('metrics/messages/dropped')
      // EMQX publishes counters, not rates: a rate needs two live ticks (sys_msg_interval, 1 min by default)
      out.messages_received_per_second = rate('metrics/messages/received')
      out.messages_sent_per_second = rate('metrics/messages/sent')
      out.bytes_received_per_second = rate('metrics/bytes/received')
      out.bytes_sent_per_second = rate('metrics/bytes/sent')
      if (out.messages_received_per_second === null && value('metrics/messages/received') !== undefined) {
        out.notes.push('EMQX publishes message counters, not rates; a rate needs two ticks of sys_msg_interval (1 min by default) within the window.')
      }
      const nodes = new Set([...index.topics.keys()].filter((t) => t.startsWith(EMQX_PREFIX)).map((t) => t.split('/')[2]))
      if (nodes.size > 1) out.notes.push(`The cluster has ${nodes.size} nodes publishing $SYS; figures are those of ${f.prefix.split('/')[2]}.`)
      return out
    }
    case 'aedes': {
      out.uptime_seconds = num('uptime')
      out.clients_connected = num('clients/total')
      // aedes-stats counts every PUBLISH the broker routes (its 'publish' event), i.e. messages received
      // from clients, whatever its topic name says
      out.messages_received_per_second = rate('messages/publish/sent')
      if (!AEDES_STATS_SUFFIXES.some((s) => index.topics.has(f.prefix + s))) {
        out.notes.push(
          'aedes itself publishes only $SYS/<id>/heartbeat (every 60 s by default), birth and client connect/disconnect events; version, uptime, client counts and rates need the aedes-stats plugin.',
        )
      }
      out.notes.push('aedes publishes no version under $SYS.')
      return out
    }
    default: {
      // Mosquitto, and HiveMQ's sys-topic plugin, which copies Mosquitto's names
      const version = value('version')
      out.version = version === undefined ? null : version.replace(/^mosquitto version\s+/i, '')
      out.uptime_seconds = num('uptime')
      out.clients_connected = first(num('clients/connected'), num('clients/active'))
      // load/…/1min is a moving average of messages per minute; PUBLISH packets first, all packet types otherwise
      out.messages_received_per_second = perMinute('load/publish/received/1min') ?? perMinute('load/messages/received/1min')
      out.messages_sent_per_second = perMinute('load/publish/sent/1min') ?? perMinute('load/messages/sent/1min')
      out.bytes_received_per_second = perMinute('load/bytes/received/1min')
      out.bytes_sent_per_second = perMinute('load/bytes/sent/1min')
      out.subscriptions = num('subscriptions/count')
      out.retained_messages = num('retained messages/count')
      out.dropped_messages = num('publish/messages/dropped')
      if (f.broker === 'unknown') {
        out.notes.push("The $SYS names follow Mosquitto's layout, but the version does not name the broker (HiveMQ's sys-topic plugin publishes a bare version).")
      }
      return out
    }
  }
}

/** The leading number of a value (`"42"`, `"1.97"`, `"12 seconds"`), or null. */
export function toNumber(value: string | undefined): number | null {
  if (value === undefined) return null
  const m = /^-?\d+(?:\.\d+)?/.exec(value)
  return m === null ? null : Number(m[0])
}

/** EMQX 5 publishes uptime in ms; EMQX 4 as text such as "1 days, 2 hours, 3 minutes, 4 seconds". */
export function emqxUptime(value: string | undefined): number | null {
  if (value === undefined) return null
  if (/^\d+$/.test(value)) return Math.floor(Number(value) / 1000)
  const units: Record<string, number> = { day: 86400, hour: 3600, minute: 60, second: 1 }
  let total = 0
  let found = false
  for (const m of value.matchAll(/(\d+)\s*(day|hour|minute|second)s?/gi)) {
    total += Number(m[1]) * (units[m[2]!.toLowerCase()] ?? 0)
    found = true
  }
  return found ? total : null
}

/** Per-second rate of a counter between its first and last live sample, or null with fewer than two. */
function counterRate(e: SysEntry | undefined): number | null {
  if (e?.firstLive === undefined || e.lastLive === undefined) return null
  const dt = (e.lastLive.at - e.firstLive.at) / 1000
  const a = toNumber(e.firstLive.value)
  const b = toNumber(e.lastLive.value)
  if (dt <= 0 || a === null || b === null || b < a) return null
  return round((b - a) / dt)
}

const round = (n: number): number => Math.round(n * 100) / 100
