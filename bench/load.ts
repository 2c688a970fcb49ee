/**
 * The load generator: topics, payload mixes and an mqtt.js publisher with an in-flight window and an optional
 * target rate. `publishLoad` runs inside a worker process (bench/workers/publisher.ts) so that publishing never
 * shares an event loop with the MCP client that measures latencies; `runLoad` / `startLoad` drive that worker.
 *
 *   runLoad({ url, count: 100_000, qos: 0, topics: BENCH_TOPICS, mix: 'small-json', window: 1000, rate: 50_000 })
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import mqtt from 'mqtt'
import { acquireWorker, nextMessage, releaseWorker } from './children.js'

// ---------------------------------------------------------------------------------------------------------------
// topics

/** `count` topics below `prefix`, in groups of 100: `bench/a/s00` … `bench/j/s99` (groups past z are `g26` …). */
export interface TopicSpec {
  readonly prefix: string
  readonly count: number
}

export const BENCH_TOPICS: TopicSpec = { prefix: 'bench', count: 1000 }

export function topicName(prefix: string, i: number): string {
  const group = Math.floor(i / 100)
  const name = group < 26 ? String.fromCharCode(97 + group) : `g${group}`
  return `${prefix}/${name}/s${String(i % 100).padStart(2, '0')}`
}

export function topicNames(spec: TopicSpec): string[] {
  return Array.from({ length: spec.count }, (_, i) => topicName(spec.prefix, i))
}

/** MQTT filter matching (enough for the bench's own filters; the server has the real rules). */
export function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

// ---------------------------------------------------------------------------------------------------------------
// payloads

export type PayloadKind = 'small-json' | 'text' | 'medium-json' | 'binary-64k' | 'empty'

/**
 * Payload mixes, as 20 slots each (5 % a slot). Message i goes to topic i mod topics and takes the kind of slot
 * i mod 20, so with 1,000 topics a topic always carries one kind, as real devices do.
 *  - small-json: the 81-byte sensor reading, every message.
 *  - payload-mix: 50 % plain text, 25 % 476-byte JSON, 25 % 64 KB binary.
 *  - mixed (the "normal traffic" of cpu-normal): 40 % small JSON, 30 % text, 25 % 476-byte JSON, 5 % 64 KB binary.
 *  - empty: zero bytes, which, published retained, clears a topic's retained message.
 */
export const MIXES = {
  'small-json': { 'small-json': 20 },
  'payload-mix': { text: 10, 'medium-json': 5, 'binary-64k': 5 },
  mixed: { 'small-json': 8, text: 6, 'medium-json': 5, 'binary-64k': 1 },
  empty: { empty: 20 },
} as const satisfies Record<string, Partial<Record<PayloadKind, number>>>

export type MixName = keyof typeof MIXES

export const SMALL_JSON_BYTES = 81
export const MEDIUM_JSON_BYTES = 476
export const BINARY_BYTES = 64 * 1024

const pad = (n: number, width: number): string => String(n).padStart(width, '0')

/** `{"sensor":"s042","temperature":21.5,"humidity":48.2,"ts":1732500000000,"ok":true}`: exactly 81 bytes. */
export function smallJson(i: number): Buffer {
  const temperature = (100 + ((i * 37) % 300)) / 10 // 10.0 … 39.9: always 4 characters
  const humidity = (300 + ((i * 53) % 600)) / 10 // 30.0 … 89.9
  const text = `{"sensor":"s${pad(i % 1000, 3)}","temperature":${temperature.toFixed(1)},"humidity":${humidity.toFixed(1)},"ts":${1732500000000 + (i % 1000)},"ok":true}`
  return exactly(text, SMALL_JSON_BYTES)
}

/** A device status object padded to exactly 476 bytes. */
export function mediumJson(i: number): Buffer {
  const base = {
    device: `dev-${pad(i % 1000, 3)}`,
    model: 'TH-Pro 2',
    firmware: '4.2.1',
    uptime_s: 86_400 + (i % 1000),
    battery: { level: 50 + (i % 50), voltage: 3.01 },
    readings: { temperature: 21.5, humidity: 48.2, pressure: 1013.2, co2: 400 + (i % 600), voc: 140 },
    location: { building: 'B2', floor: 3, room: '3.14' },
    links: [{ rssi: -61, channel: 11 }, { rssi: -72, channel: 15 }],
    ts: 1732500000000 + (i % 1000),
    note: '',
  }
  const bare = Buffer.byteLength(JSON.stringify(base))
  return exactly(JSON.stringify({ ...base, note: 'n'.repeat(MEDIUM_JSON_BYTES - bare) }), MEDIUM_JSON_BYTES)
}

export function plainText(i: number): Buffer {
  return Buffer.from(`s${pad(i % 1000, 3)} temperature ${(18 + (i % 70) / 10).toFixed(1)} C, humidity ${40 + (i % 30)} %`)
}

function exactly(text: string, bytes: number): Buffer {
  const buf = Buffer.from(text)
  if (buf.length !== bytes) throw new Error(`payload is ${buf.length} bytes, not ${bytes}: ${text}`)
  return buf
}

/** Distinct payloads per kind (values change over time; 4,000 is a multiple of the 1,000 topics). */
function pool(kind: PayloadKind): Buffer[] {
  switch (kind) {
    case 'small-json':
      return Array.from({ length: 4000 }, (_, i) => smallJson(i))
    case 'medium-json':
      return Array.from({ length: 1000 }, (_, i) => mediumJson(i))
    case 'text':
      return Array.from({ length: 1000 }, (_, i) => plainText(i))
    case 'binary-64k':
      // random bytes are not UTF-8: the server sees them as binary
      return Array.from({ length: 4 }, () => randomBytes(BINARY_BYTES))
    case 'empty':
      return [Buffer.alloc(0)]
  }
}

/** The payload of message i for a mix: `payloadOf(i)`. */
export function payloadSource(mix: MixName): (i: number) => Buffer {
  const slots: PayloadKind[] = []
  for (const [kind, n] of Object.entries(MIXES[mix]) as Array<[PayloadKind, number]>) for (let k = 0; k < n; k++) slots.push(kind)
  if (slots.length !== 20) throw new Error(`mix ${mix} has ${slots.length} slots, not 20`)
  const pools = new Map<PayloadKind, Buffer[]>()
  for (const kind of new Set(slots)) pools.set(kind, pool(kind))
  const bySlot = slots.map((kind) => pools.get(kind)!)
  return (i) => {
    const p = bySlot[i % 20]!
    return p[i % p.length]!
  }
}

/** Average payload size of a mix, in bytes. */
export function averagePayloadBytes(mix: MixName): number {
  const of = payloadSource(mix)
  let sum = 0
  for (let i = 0; i < 4000; i++) sum += of(i).length
  return sum / 4000
}

// ---------------------------------------------------------------------------------------------------------------
// the publisher (runs in the worker)

export interface LoadSpec {
  readonly url: string
  /** Messages to publish. */
  readonly count: number
  readonly qos: 0 | 1
  readonly topics: TopicSpec
  readonly mix: MixName
  /** Publishes whose callback (QoS 0: written; QoS 1: PUBACK) has not come yet, at most. */
  readonly window: number
  /** Messages per second; leave out to publish as fast as the window allows. */
  readonly rate?: number
  readonly retain?: boolean
}

export interface LoadResult {
  readonly published: number
  readonly failed: number
  /** From the first publish to the last callback. */
  readonly elapsedMs: number
  /** published / elapsed, per second. */
  readonly rate: number
  readonly bytes: number
  /** CPU time of the publisher process over the run, in ms. */
  readonly cpuMs: number
}

export async function publishLoad(spec: LoadSpec): Promise<LoadResult> {
  const client = await mqtt.connectAsync(spec.url, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    clientId: `bench-pub-${randomBytes(4).toString('hex')}`,
    connectTimeout: 5000,
  })
  const topics = topicNames(spec.topics)
  const payloadOf = payloadSource(spec.mix)
  const options = { qos: spec.qos, retain: spec.retain ?? false }
  let sent = 0
  let acked = 0
  let failed = 0
  let bytes = 0
  const started = performance.now()
  const cpu0 = process.cpuUsage()
  const due = (): number => (spec.rate === undefined ? spec.count : Math.min(spec.count, Math.floor(((performance.now() - started) * spec.rate) / 1000) + 1))

  const elapsedMs = await new Promise<number>((resolve, reject) => {
    let pumping = false
    let timer: NodeJS.Timeout | undefined
    client.once('error', reject)
    client.once('close', () => {
      if (acked < spec.count) reject(new Error(`the broker closed the publisher's connection after ${acked} messages`))
    })
    // the window is refilled half at a time: publishes issued in one tick leave in one write (mqtt-packet corks
    // the socket until the next tick), where one at a time would cost a syscall each
    const refillAt = Math.max(1, Math.floor(spec.window / 2))
    const onSent = (e?: Error): void => {
      acked++
      if (e !== undefined && e !== null) failed++
      if (acked === spec.count) resolve(performance.now() - started)
      else if (sent - acked <= refillAt) pump()
    }
    const pump = (): void => {
      if (pumping) return
      pumping = true
      const limit = due()
      while (sent < limit && sent - acked < spec.window) {
        const i = sent++
        const payload = payloadOf(i)
        bytes += payload.length
        client.publish(topics[i % topics.length]!, payload, options, onSent)
      }
      pumping = false
      // rate-limited with room in the window: come back when the next message is due
      if (sent < spec.count && sent >= limit && timer === undefined && spec.rate !== undefined) {
        timer = setTimeout(() => {
          timer = undefined
          pump()
        }, Math.max(1, 1000 / spec.rate))
      }
    }
    pump()
  })
  const cpu = process.cpuUsage(cpu0)
  await client.endAsync(true).catch(() => undefined)
  return { published: acked - failed, failed, elapsedMs, rate: ((acked - failed) / elapsedMs) * 1000, bytes, cpuMs: (cpu.user + cpu.system) / 1000 }
}

// ---------------------------------------------------------------------------------------------------------------
// driving the worker

export interface RunningLoad {
  readonly pid: number | undefined
  /** Resolves when every message was published. */
  readonly done: Promise<LoadResult>
}

/** Starts publishing in a worker; `done` resolves with its figures. */
export function startLoad(spec: LoadSpec): RunningLoad {
  const child = acquireWorker('publisher')
  // generous: at 2,000 msg/s (a loaded machine at QoS 1) plus start-up
  const timeoutMs = 30_000 + (spec.rate !== undefined ? (spec.count / spec.rate) * 2000 : spec.count / 2)
  const done = nextMessage(child, (m): m is { type: 'done'; result: LoadResult } => (m as { type?: string }).type === 'done', timeoutMs, 'publisher').then(
    (m) => {
      releaseWorker('publisher', child, true)
      return m.result
    },
    (e: unknown) => {
      releaseWorker('publisher', child, false)
      throw e
    },
  )
  child.send({ type: 'run', spec })
  return { pid: child.pid, done }
}

export const runLoad = (spec: LoadSpec): Promise<LoadResult> => startLoad(spec).done
