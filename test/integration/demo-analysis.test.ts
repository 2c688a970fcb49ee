/**
 * The analysis tools over real stdio against `--demo` (SDK Client → `node .build/src/main.js --demo`):
 *   - mqtt_debug_device on a scripted device (the demo fleet runs in real time, its garage door drops only once a
 *     minute, and the CLI has no speed option): a mqtt.js client on aedes with a retained Last Will `offline`,
 *     retained `online` and a 200 ms heartbeat loses its socket without DISCONNECT, then comes back as a new
 *     client; the tool, on a second session of the same server, sees online → offline (the Will) → online.
 *   - mqtt_request_response against the demo's RPC responder (demo/rpc/echo: echoes `id` / `correlation_id`), and a
 *     request nobody answers on its response topic (timed_out, not isError).
 *   - mqtt_retained_messages clear on a scripted set of retained topics on the demo broker: the dry run lists them,
 *     the real clear removes exactly those, and a retained topic outside the pattern stays.
 */
import test from 'ava'
import mqtt, { type MqttClient } from 'mqtt'
import { startAedes, type TestBroker } from '../helpers/brokers.js'
import { call, ok, startStdioServer, textOf, type StdioServer } from '../helpers/mcp.js'
import { witness } from '../helpers/subscriber.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const rand = (): string => Math.random().toString(16).slice(2, 10)

interface DeviceResult {
  topics: Record<string, Array<{ topic: string; messages: number; retained: boolean }>>
  availability: Array<{
    topic: string
    state: string
    raw: string
    initial: { state: string; retained: boolean }
    transitions: Array<{ at: string; from: string; to: string }>
    transition_count: number
  }>
  heartbeats: Array<{ topic: string; period_ms: number; jitter_ms: number; missed_beats: number; messages: number }>
  timeline: Array<{ at: string; topic: string; kind: string; from: string; to: string }>
  stopped_by: string
  messages_seen: number
}

interface Reply {
  attempt: number
  topic: string
  payload: unknown
  encoding: string
  rtt_ms: number
  schema_errors: string[]
  correlation: string
}

interface RpcResult {
  protocol_version: number
  requests: number
  replies: Reply[]
  rtt_ms: { min: number; p50: number; max: number } | null
  timed_out: number
  timed_out_attempts: number[]
  schema_valid: boolean | null
  notes: string[]
}

interface RetainedResult {
  action: string
  dry_run?: boolean
  would_clear?: string[]
  cleared?: string[]
  count: number
  retained?: Array<{ topic: string; payload: unknown }>
}

let server: StdioServer | undefined
let demoUrl = ''

/** The demo broker's URL from the server's log line "demo broker running" (1883, or a free port when taken). */
async function demoUrlFrom(s: StdioServer): Promise<string> {
  for (let i = 0; i < 200; i++) {
    for (const line of s.stderr().split('\n')) {
      if (!line.includes('demo broker running')) continue
      const url = (JSON.parse(line) as { url?: unknown }).url
      if (typeof url === 'string') return url
    }
    await sleep(25)
  }
  throw new Error(`no "demo broker running" line on stderr:\n${s.stderr()}`)
}

test.before(async () => {
  server = await startStdioServer(['--demo'])
  demoUrl = await demoUrlFrom(server)
  // open the default (demo) session first: with only the scripted device's session open, a call without
  // session_id would otherwise go there
  await ok(server.client, 'mqtt_publish_message', { topic: `demo-analysis/warm-up/${rand()}`, payload: 'x' })
})

test.after.always(async () => {
  await server?.close()
})

const client = (): StdioServer['client'] => {
  if (server === undefined) throw new Error('no server')
  return server.client
}

// ---------------------------------------------------------------------------------------------------------------
// mqtt_debug_device: Last Will out and back

const DEVICE = 'dev-9'
const AVAILABILITY = `devices/${DEVICE}/availability`

/** The scripted device: Last Will `offline` (retained), retained `online`, a heartbeat every 200 ms. */
async function startDevice(url: string): Promise<{ client: MqttClient; stopBeat: () => void }> {
  const device = await mqtt.connectAsync(url, {
    clientId: DEVICE,
    protocolVersion: 4,
    reconnectPeriod: 0,
    will: { topic: AVAILABILITY, payload: Buffer.from('offline'), qos: 1, retain: true },
  })
  await device.publishAsync(AVAILABILITY, 'online', { qos: 1, retain: true })
  let seq = 0
  const beat = setInterval(() => {
    if (device.connected) device.publish(`devices/${DEVICE}/heartbeat`, JSON.stringify({ seq: ++seq, uptime_ms: seq * 200 }))
  }, 200)
  return { client: device, stopBeat: () => clearInterval(beat) }
}

test('mqtt_debug_device sees a device go offline through its Last Will and come back (online → offline → online)', async (t) => {
  const broker: TestBroker = await startAedes()
  t.teardown(() => broker.close())
  const session = await ok<{ session_id: string; protocol_version: number }>(client(), 'mqtt_establish_connection', { connection_string: broker.url, name: 'scripted device broker' })
  t.teardown(() => ok(client(), 'mqtt_close_connection', { session_id: session.session_id }).then(() => undefined))
  const watch = await witness(broker.url, AVAILABILITY, { qos: 1 })
  t.teardown(() => watch.close())

  const devices: Array<Awaited<ReturnType<typeof startDevice>>> = []
  t.teardown(() => {
    for (const d of devices) {
      d.stopBeat()
      d.client.end(true)
    }
  })
  const first = await startDevice(broker.url)
  devices.push(first)

  const pending = ok<DeviceResult>(client(), 'mqtt_debug_device', { session_id: session.session_id, device_id: DEVICE, duration_seconds: 10 })
  await sleep(2500)
  // the socket dies without DISCONNECT: only the broker can say offline now, with the Last Will
  first.stopBeat()
  first.client.stream.destroy()
  const will = await watch.waitFor((m) => m.payload.toString() === 'offline', 5000)
  // the Will was retained: a subscriber arriving now is told offline
  const late = await witness(broker.url, AVAILABILITY)
  t.teardown(() => late.close())
  const told = await late.waitFor(() => true, 3000)
  t.is(told.payload.toString(), 'offline')
  t.true(told.packet.retain)
  await sleep(1200)
  // a NEW client (same device id) comes back and says online again
  devices.push(await startDevice(broker.url))
  await watch.waitFor((m) => m.payload.toString() === 'online', 5000, watch.messages.indexOf(will) + 1)
  const r = await pending

  t.is(r.stopped_by, 'duration')
  t.deepEqual((r.topics['availability'] ?? []).map((x) => x.topic), [AVAILABILITY])
  t.is(r.availability.length, 1, JSON.stringify(r.availability))
  const a = r.availability[0]!
  t.like(a, { topic: AVAILABILITY, state: 'online', raw: 'online', initial: { state: 'online', retained: true }, transition_count: 2 })
  t.deepEqual(a.transitions.map((x) => [x.from, x.to]), [['online', 'offline'], ['offline', 'online']])
  const [down, up] = a.transitions.map((x) => Date.parse(x.at))
  t.true(up! - down! >= 1000, `offline for ${up! - down!} ms`)
  t.deepEqual(
    r.timeline.filter((e) => e.kind === 'availability').map((e) => [e.topic, e.from, e.to]),
    [
      [AVAILABILITY, 'online', 'offline'],
      [AVAILABILITY, 'offline', 'online'],
    ],
  )
  const hb = r.heartbeats.find((h) => h.topic === `devices/${DEVICE}/heartbeat`)
  t.truthy(hb, JSON.stringify(r.heartbeats))
  t.true(Math.abs(hb!.period_ms - 200) <= 50, `period ${hb!.period_ms} ms`)
  // about 1.5 s without a beat while the device was away
  t.true(hb!.missed_beats >= 3, `missed ${hb!.missed_beats}`)
  // the broker kept the device's last word: a fresh subscriber gets online
  const fresh = await witness(broker.url, AVAILABILITY)
  t.teardown(() => fresh.close())
  const last = await fresh.waitFor(() => true, 3000)
  t.is(last.payload.toString(), 'online')
  t.true(last.packet.retain)
})

// ---------------------------------------------------------------------------------------------------------------
// mqtt_request_response against the demo's responder

test('mqtt_request_response gets matched replies from the demo RPC responder (id and correlation_id)', async (t) => {
  const r = await ok<RpcResult>(client(), 'mqtt_request_response', {
    request_topic: 'demo/rpc/echo/request',
    payload: JSON.stringify({ id: 'req-42', text: 'hello demo' }),
    payload_encoding: 'json',
    response_topic: 'demo/rpc/echo/response',
    repeat: 3,
    timeout_seconds: 5,
    expect_schema: { type: 'object', required: ['id', 'echo'], properties: { id: { const: 'req-42' } } },
  })
  t.is(r.protocol_version, 4, 'the demo broker is aedes: MQTT 3.1.1')
  t.is(r.requests, 3)
  t.is(r.timed_out, 0, r.notes.join('\n'))
  t.deepEqual(r.replies.map((x) => x.attempt), [1, 2, 3])
  for (const reply of r.replies) {
    t.like(reply, { topic: 'demo/rpc/echo/response', encoding: 'json', correlation: 'topic', schema_errors: [] })
    t.deepEqual(reply.payload, { id: 'req-42', echo: { id: 'req-42', text: 'hello demo' } })
  }
  t.true(r.schema_valid === true)
  t.truthy(r.rtt_ms)
  t.true(r.rtt_ms!.min <= r.rtt_ms!.p50 && r.rtt_ms!.p50 <= r.rtt_ms!.max && r.rtt_ms!.max < 5000)

  const byCorrelation = await ok<RpcResult>(client(), 'mqtt_request_response', {
    request_topic: 'demo/rpc/add/request',
    payload: JSON.stringify({ correlation_id: 'c-7', a: 2, b: 40 }),
    response_topic: 'demo/rpc/add/response',
    timeout_seconds: 5,
  })
  t.is(byCorrelation.replies.length, 1, byCorrelation.notes.join('\n'))
  t.deepEqual(byCorrelation.replies[0]!.payload, { correlation_id: 'c-7', result: 42 })
})

test('mqtt_request_response on a topic nobody answers reports timed_out without isError', async (t) => {
  const result = await call(client(), 'mqtt_request_response', {
    request_topic: 'demo/rpc/nothing-listens/request',
    payload: JSON.stringify({ id: 1 }),
    response_topic: 'demo/silent/response',
    timeout_seconds: 1,
  })
  t.not(result.isError, true, textOf(result))
  const r = result.structuredContent as unknown as RpcResult
  t.is(r.requests, 1)
  t.is(r.timed_out, 1)
  t.deepEqual(r.timed_out_attempts, [1])
  t.deepEqual(r.replies, [])
  t.is(r.rtt_ms, null)
  t.true(r.notes.some((n) => /No reply on demo\/silent\/response within 1 s/.test(n)), r.notes.join('\n'))
})

// ---------------------------------------------------------------------------------------------------------------
// mqtt_retained_messages clear on the demo broker

/** Retained topics (non-empty payload) a fresh subscriber receives below `filter` within `ms`. */
async function freshRetained(url: string, filter: string, ms = 700): Promise<string[]> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `fresh-${rand()}` })
  const seen: string[] = []
  c.on('message', (topic, payload, packet) => {
    if (packet.retain && payload.length > 0) seen.push(topic)
  })
  await c.subscribeAsync(filter, { qos: 0 })
  await sleep(ms)
  await c.endAsync(true)
  return seen.sort()
}

test('mqtt_retained_messages clear: the dry run lists would_clear, the real clear removes exactly those', async (t) => {
  const base = `demo-analysis/${rand()}`
  const inside = [`${base}/ret/a`, `${base}/ret/b/json`, `${base}/ret/c/deep/x`].sort()
  const outside = `${base}/keep/config`
  const seeder = await mqtt.connectAsync(demoUrl, { protocolVersion: 4, reconnectPeriod: 0, clientId: `seed-${rand()}` })
  t.teardown(() => seeder.endAsync(true))
  await seeder.publishAsync(inside[0]!, 'on', { qos: 1, retain: true })
  await seeder.publishAsync(inside[1]!, JSON.stringify({ t: 21.5 }), { qos: 1, retain: true })
  await seeder.publishAsync(inside[2]!, Buffer.from([1, 2, 3]), { qos: 1, retain: true })
  await seeder.publishAsync(outside, 'keep me', { qos: 1, retain: true })
  await seeder.publishAsync(`${base}/ret/live`, 'not retained', { qos: 1, retain: false })
  t.teardown(async () => {
    await seeder.publishAsync(outside, '', { qos: 1, retain: true })
  })

  const pattern = `${base}/ret/#`
  const dry = await ok<RetainedResult>(client(), 'mqtt_retained_messages', { pattern, action: 'clear', duration_seconds: 1 })
  t.true(dry.dry_run)
  t.deepEqual(dry.would_clear, inside)
  t.is(dry.count, 3)
  t.is(dry.cleared, undefined)
  t.deepEqual(await freshRetained(demoUrl, `${base}/#`), [...inside, outside].sort(), 'a dry run clears nothing')

  const done = await ok<RetainedResult>(client(), 'mqtt_retained_messages', { pattern, action: 'clear', dry_run: false, duration_seconds: 1 })
  t.false(done.dry_run)
  t.deepEqual(done.cleared, dry.would_clear)
  t.is(done.count, 3)
  t.deepEqual(await freshRetained(demoUrl, `${base}/#`), [outside], 'only the retained topic outside the pattern is left')

  const listed = await ok<RetainedResult>(client(), 'mqtt_retained_messages', { pattern: `${base}/#`, duration_seconds: 1 })
  t.deepEqual(listed.retained?.map((e) => [e.topic, e.payload]), [[outside, 'keep me']])
})
