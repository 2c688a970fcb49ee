/**
 * mqtt_debug_device and mqtt_monitor_performance end to end: an in-process MCP server (SDK Client over an
 * in-memory pair) serving these tools against aedes and, when installed, Mosquitto, with simulated devices
 * that are plain mqtt.js clients: a device with a Last Will that loses its socket, and a publisher at a known rate.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import test from 'ava'
import mqtt from 'mqtt'
import { asyncScheduler } from 'rxjs'
import { createApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { createLogger } from '../../src/log.js'
import { createMcpServer } from '../../src/mcp/server.js'
import { debugDevice } from '../../src/tools/debug-device.js'
import { monitorPerformance } from '../../src/tools/monitor-performance.js'
import { brokerMatrix, startAedes } from '../helpers/brokers.js'
import { ok } from '../helpers/mcp.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const within = (actual: number, expected: number, relative: number): boolean => Math.abs(actual - expected) <= relative * expected

/** An MCP client on a server that serves only the tools under test, with `url` as the default broker. */
async function serve(url: string, env: Record<string, string> = {}): Promise<{ client: Client; close: () => Promise<void> }> {
  const loaded = loadConfig([], { MQTT_URL: url, ...env })
  if (loaded._tag === 'Left') throw new Error(loaded.left)
  const config = loaded.right as Config
  const logger = createLogger('warn', {}, () => undefined)
  const app = createApp({ config, logger })
  const server = createMcpServer({
    name: 'analysis-test',
    version: '0.0.0',
    tools: [debugDevice, monitorPerformance],
    context: { registry: app.registry, config, logger, scheduler: asyncScheduler },
  })
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const client = new Client({ name: 'analysis-test', version: '0.0.0' })
  await client.connect(clientSide)
  return {
    client,
    close: async () => {
      await client.close()
      await app.close()
    },
  }
}

interface DeviceResult {
  topics: Record<string, Array<{ topic: string; messages: number; retained: boolean }>>
  availability: Array<{ topic: string; state: string; initial: { state: string; retained: boolean }; transitions: Array<{ at: string; from: string; to: string }> }>
  heartbeats: Array<{ topic: string; period_ms: number; jitter_ms: number; missed_beats: number }>
  timeline: Array<{ topic: string; kind: string; from: string; to: string; key: string | null }>
  errors: Array<{ topic: string; payload: unknown }>
  errors_total: number
  schemas: Array<{ topic: string; kind: string; keys?: string[] }>
  notes: string[]
  messages_seen: number
}

interface Figures {
  messages: number
  messages_per_second: number
  bytes_per_second: number
  size_bytes: { min: number; p50: number; p95: number; max: number } | null
  inter_arrival_ms: { p50: number; p95: number } | null
  duplicates: number
}

type LatencyStats = { sent: number; received: number; min: number | null; p50: number | null; max: number | null } | null

interface PerformanceResult {
  overall: Figures
  per_topic: Array<Figures & { topic: string }>
  silent_topics: Array<{ topic: string; reason: string }>
  latency?: { topic: string; granted_qos: number | null; qos0: LatencyStats; qos1: LatencyStats; qos2: LatencyStats }
  notes: string[]
}

for (const broker of brokerMatrix()) {
  test(`mqtt_debug_device on ${broker.name} finds a device's topics, its Last Will transition, its heartbeat and its errors`, async (t) => {
    const b = await broker.start()
    const server = await serve(b.url)
    // the device: a Last Will on its availability topic, retained online, a heartbeat every 200 ms
    const device = await mqtt.connectAsync(b.url, {
      clientId: `dev-1-${broker.name}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
      will: { topic: 'devices/dev-1/availability', payload: Buffer.from('offline'), qos: 1, retain: true },
    })
    t.teardown(async () => {
      device.end(true)
      await server.close()
      await b.close()
    })
    await device.publishAsync('devices/dev-1/availability', 'online', { qos: 1, retain: true })
    await device.publishAsync('devices/dev-1/config', JSON.stringify({ model: 'DX-1', fw: '1.2.3' }), { qos: 1, retain: true })
    let seq = 0
    const heartbeat = setInterval(() => device.publish('devices/dev-1/heartbeat', JSON.stringify({ seq: ++seq })), 200)
    t.teardown(() => clearInterval(heartbeat))

    const pending = ok<DeviceResult>(server.client, 'mqtt_debug_device', { device_id: 'dev-1', duration_seconds: 10 })
    const missing = ok<DeviceResult>(server.client, 'mqtt_debug_device', { device_id: 'no-such-device', duration_seconds: 10 })
    await sleep(1500)
    await device.publishAsync('devices/dev-1/state', JSON.stringify({ state: 'idle' }), { qos: 1 })
    await device.publishAsync('devices/dev-1/status', JSON.stringify({ level: 'error', code: 'E42', message: 'sensor failure' }), { qos: 1 })
    await device.publishAsync('devices/dev-1/state', JSON.stringify({ state: 'running' }), { qos: 1 })
    await sleep(4000)
    // the socket dies without DISCONNECT: the broker publishes the Last Will
    clearInterval(heartbeat)
    device.stream.destroy()
    const r = await pending

    const topicsOf = (role: string): string[] => (r.topics[role] ?? []).map((x) => x.topic)
    t.deepEqual(topicsOf('availability'), ['devices/dev-1/availability'])
    t.deepEqual(topicsOf('telemetry'), ['devices/dev-1/heartbeat'])
    t.deepEqual(topicsOf('config'), ['devices/dev-1/config'])
    t.deepEqual(topicsOf('state'), ['devices/dev-1/state', 'devices/dev-1/status'])

    t.is(r.availability.length, 1)
    const a = r.availability[0]!
    t.like(a, { topic: 'devices/dev-1/availability', state: 'offline', initial: { state: 'online', retained: true } })
    t.deepEqual(a.transitions.map((x) => [x.from, x.to]), [['online', 'offline']])

    const hb = r.heartbeats.find((h) => h.topic === 'devices/dev-1/heartbeat')
    t.truthy(hb, JSON.stringify(r.heartbeats))
    t.true(within(hb!.period_ms, 200, 0.1), `period ${hb!.period_ms} ms`)
    // about 4 s of silence after the socket died: some 20 beats are due and absent
    t.true(hb!.missed_beats >= 10, `missed ${hb!.missed_beats}`)

    t.is(r.errors_total, 1)
    t.like(r.errors[0], { topic: 'devices/dev-1/status', payload: { level: 'error', code: 'E42', message: 'sensor failure' } })
    t.deepEqual(
      r.timeline.map((e) => [e.kind, e.topic, e.from, e.to]),
      [
        ['value', 'devices/dev-1/state', 'idle', 'running'],
        ['availability', 'devices/dev-1/availability', 'online', 'offline'],
      ],
    )
    t.deepEqual(r.schemas.find((s) => s.topic === 'devices/dev-1/config'), { topic: 'devices/dev-1/config', kind: 'json', keys: ['model', 'fw'] })
    t.true(r.notes.some((n) => n.includes('devices/dev-1/availability says offline')), r.notes.join('\n'))

    const m = await missing
    t.is(m.messages_seen, 0)
    t.regex(m.notes[0] ?? '', /No topic matched device_id 'no-such-device'.*topic_pattern/)
  })

  test(`mqtt_monitor_performance on ${broker.name} measures a known publish rate, duplicates and probe round trips`, async (t) => {
    const b = await broker.start()
    const server = await serve(b.url)
    const publisher = await mqtt.connectAsync(b.url, { clientId: `load-${broker.name}`, protocolVersion: 4, reconnectPeriod: 0 })
    t.teardown(async () => {
      publisher.end(true)
      await server.close()
      await b.close()
    })
    await publisher.publishAsync('load/config', 'retained value', { retain: true })
    // 50 msg/s on load/a (64-byte payloads, all different) and 5 msg/s of one repeated payload on load/dup,
    // scheduled against the clock so timer drift does not change the rate
    const started = Date.now()
    let sentA = 0
    let sentDup = 0
    const ticker = setInterval(() => {
      const elapsed = Date.now() - started
      while (sentA < Math.floor((elapsed * 50) / 1000)) publisher.publish('load/a', String(++sentA).padStart(64, '0'))
      while (sentDup < Math.floor((elapsed * 5) / 1000)) {
        sentDup++
        publisher.publish('load/dup', 'same')
      }
    }, 5)
    t.teardown(() => clearInterval(ticker))
    await sleep(300)

    const r = await ok<PerformanceResult>(server.client, 'mqtt_monitor_performance', { topic: 'load/#', duration_seconds: 6, latency_probe: true })
    clearInterval(ticker)

    const a = r.per_topic.find((f) => f.topic === 'load/a')!
    t.true(within(a.messages_per_second, 50, 0.1), `load/a at ${a.messages_per_second} msg/s`)
    t.true(within(a.bytes_per_second, 50 * 64, 0.1))
    t.deepEqual(a.size_bytes, { min: 64, p50: 64, p95: 64, max: 64 })
    t.true(within(a.inter_arrival_ms!.p50, 20, 0.5), `p50 gap ${a.inter_arrival_ms!.p50} ms`)
    t.is(a.duplicates, 0)
    const dup = r.per_topic.find((f) => f.topic === 'load/dup')!
    t.true(within(dup.messages_per_second, 5, 0.2), `load/dup at ${dup.messages_per_second} msg/s`)
    t.is(dup.duplicates, dup.messages - 1)
    t.true(within(r.overall.messages_per_second, 55, 0.1))
    t.deepEqual(r.silent_topics.map((s) => [s.topic, s.reason]), [['load/config', 'retained_only']])
    // the probes are not traffic of the measured filter, even when it would match them
    t.false(r.per_topic.some((f) => f.topic.startsWith('bitsperity-mqtt-mcp/')))

    t.truthy(r.latency, r.notes.join('\n'))
    t.regex(r.latency!.topic, /^bitsperity-mqtt-mcp\/probe\/[0-9a-f]{16}$/)
    t.is(r.latency!.granted_qos, 2)
    for (const key of ['qos0', 'qos1', 'qos2'] as const) {
      const s = r.latency![key]
      t.truthy(s, `${key}: ${r.notes.join('\n')}`)
      t.is(s!.sent, 5)
      t.is(s!.received, 5)
      t.true(s!.min! >= 0 && s!.min! <= s!.p50! && s!.p50! <= s!.max!, JSON.stringify(s))
    }
  })
}

test('mqtt_monitor_performance skips the latency probe in read-only mode and says why', async (t) => {
  const b = await startAedes()
  const server = await serve(b.url, { MQTT_MCP_READ_ONLY: 'true' })
  t.teardown(async () => {
    await server.close()
    await b.close()
  })
  const r = await ok<PerformanceResult>(server.client, 'mqtt_monitor_performance', { duration_seconds: 5, latency_probe: true })
  t.is(r.latency, undefined)
  t.true(r.notes.some((n) => /Latency probe skipped: .*read-only/.test(n)), r.notes.join('\n'))
  t.true(r.notes.some((n) => n.includes('$SYS')))
  t.like(r.overall, { messages: 0, messages_per_second: 0 })
})
