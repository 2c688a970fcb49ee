/**
 * mqtt_subscribe_and_collect end to end through the SDK Client, against aedes and (when installed) Mosquitto:
 * an independent mqtt.js publisher sends known messages and the results are checked against them (counts,
 * per-topic statistics, stop reasons, pruning, payload decoding, budget, progress, shared subscriptions,
 * close, broker restart, cancellation over raw JSON-RPC on stdio, bad input).
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { CallToolResultSchema, type CallToolResult, type Progress } from '@modelcontextprotocol/sdk/types.js'
import test, { type ExecutionContext } from 'ava'
import mqtt, { type MqttClient } from 'mqtt'
import { brokerMatrix, type TestBroker } from '../helpers/brokers.js'
import { fails, mainPath, ok, startInProcess, startStdioServer, textOf } from '../helpers/mcp.js'

interface Shown {
  topic: string
  payload: unknown
  encoding: 'json' | 'text' | 'base64'
  size_bytes: number
  truncated?: boolean
  qos: number
  retain: boolean
  received_at: string
}

interface Collected {
  session_id: string
  filters: string[]
  messages: Shown[]
  statistics: { total_received: number; per_topic: Record<string, number>; messages_per_second: number; first_at: string | null; last_at: string | null; bytes: number }
  stopped_by: 'duration' | 'limit' | 'cancelled' | 'closed'
  interruptions: Array<{ start: string; end: string | null; error: string }>
  pruning: { seen: number; kept: number; dropped: number; by_rule: { error: number; first_last: number; sample: number }; summary: string[] }
  truncated: boolean
}

interface SessionRow {
  session_id: string
  state: string
  reconnects: number
  messages_received: number
  subscriptions: Array<{ filter: string; qos: number; granted: number | null; shared_by: number }>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** An independent publisher (MQTT 3.1.1, no reconnects: a test that restarts the broker opens a new one). */
async function publisher(url: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `pub-${Math.random().toString(16).slice(2, 10)}` })
}

/** Polls `probe` until it returns something, or fails after `timeoutMs`. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

async function sessions(client: Client): Promise<SessionRow[]> {
  return (await ok<{ sessions: SessionRow[] }>(client, 'mqtt_list_active_connections')).sessions
}

/** Waits until the broker granted every filter (and `shared_by` matches when given): the window is listening. */
function subscribed(client: Client, filters: Record<string, number | undefined>, timeoutMs = 10_000): Promise<SessionRow> {
  return eventually(
    `subscriptions ${JSON.stringify(filters)}`,
    async () =>
      (await sessions(client)).find((s) =>
        Object.entries(filters).every(([filter, shared]) =>
          s.subscriptions.some((x) => x.filter === filter && x.granted !== null && (shared === undefined || x.shared_by === shared)),
        ),
      ),
    timeoutMs,
  )
}

/** Waits until the session has received `n` messages in all (the broker delivered them). */
function received(client: Client, n: number): Promise<SessionRow> {
  return eventually(`${n} messages received`, async () => (await sessions(client)).find((s) => s.messages_received >= n))
}

/** Starts a collect without waiting for it. */
function collect(client: Client, args: Record<string, unknown>): Promise<Collected> {
  return ok<Collected>(client, 'mqtt_subscribe_and_collect', args)
}

async function connectSession(client: Client, b: TestBroker): Promise<string> {
  return (await ok<{ session_id: string }>(client, 'mqtt_establish_connection', { connection_string: b.url })).session_id
}

/** A broker and an in-process server with a session on it, all torn down after the test. */
async function setup(t: ExecutionContext, start: () => Promise<TestBroker>, env: Record<string, string> = {}) {
  const b = await start()
  const server = await startInProcess(env)
  const pub = await publisher(b.url)
  t.teardown(async () => {
    await pub.endAsync(true)
    await server.close()
    await b.close()
  })
  const session_id = await connectSession(server.client, b)
  return { b, server, client: server.client, pub, session_id }
}

const seqOf = (m: Shown): number => (m.payload as { seq: number }).seq

for (const broker of brokerMatrix()) {
  test(`${broker.name}: a known publisher's messages are counted per topic; limit and duration stop the window (stdio)`, async (t) => {
    const b = await broker.start()
    const server = await startStdioServer()
    const pub = await publisher(b.url)
    t.teardown(async () => {
      await pub.endAsync(true)
      await server.close()
      await b.close()
    })
    const session_id = await connectSession(server.client, b)
    const topics = ['known/a', 'known/b', 'known/c']

    // limit: 3 topics × 20 messages, max_messages 30 → stops at the 30th, long before the 20 s duration
    const started = Date.now()
    const limited = collect(server.client, { session_id, topic: 'known/#', duration_seconds: 20, max_messages: 30, target_count: 100 })
    await subscribed(server.client, { 'known/#': 1 })
    for (let i = 0; i < 20; i++) for (const topic of topics) await pub.publishAsync(topic, JSON.stringify({ seq: i, v: 20 + (i % 5) }), { qos: 1 })
    const l = await limited
    t.true(Date.now() - started < 10_000, 'the limit ended the window early')
    t.is(l.stopped_by, 'limit')
    t.is(l.statistics.total_received, 30)
    t.deepEqual(l.statistics.per_topic, { 'known/a': 10, 'known/b': 10, 'known/c': 10 })
    t.is(l.messages.length, 30, 'target_count 100 keeps all 30')
    t.is(l.pruning.seen, 30)
    t.is(l.pruning.dropped, 0)
    t.deepEqual(l.filters, ['known/#'])
    for (const topic of topics) {
      t.deepEqual(l.messages.filter((m) => m.topic === topic).map(seqOf), [...Array(10).keys()], `${topic} in publish order`)
    }
    t.is(l.statistics.bytes, l.messages.reduce((n, m) => n + m.size_bytes, 0))
    t.truthy(l.statistics.first_at)
    t.truthy(l.statistics.last_at)
    t.true(l.statistics.messages_per_second > 0)
    t.deepEqual(l.interruptions, [])
    t.false(l.truncated)

    // duration: 3 topics × 5 messages, max_messages 500 → the 4 s window ends by time with all 15
    // (other topics: the first window's surplus may still be on its way)
    const timed = collect(server.client, { session_id, topic: 'timed/#', duration_seconds: 4, max_messages: 500 })
    await subscribed(server.client, { 'timed/#': 1 })
    for (let i = 0; i < 5; i++) for (const topic of topics) await pub.publishAsync(`timed/${topic}`, JSON.stringify({ seq: i }), { qos: 1 })
    const d = await timed
    t.is(d.stopped_by, 'duration')
    t.is(d.statistics.total_received, 15)
    t.deepEqual(d.statistics.per_topic, { 'timed/known/a': 5, 'timed/known/b': 5, 'timed/known/c': 5 })
    // the window released its broker subscription
    t.deepEqual((await sessions(server.client))[0]?.subscriptions, [])
  })

  test(`${broker.name}: target_count prunes consistently and keeps error-looking messages and each topic's first and last`, async (t) => {
    const { client, pub, session_id } = await setup(t, broker.start)
    const running = collect(client, { session_id, topic: 'plant/#', duration_seconds: 20, max_messages: 123, target_count: 12 })
    await subscribed(client, { 'plant/#': 1 })
    // 3 topics × 40 readings at a steady pace, with two error reports in the middle and one alarm topic
    for (let i = 0; i < 40; i++) {
      for (const topic of ['plant/t1', 'plant/t2', 'plant/t3']) {
        pub.publish(topic, JSON.stringify({ seq: i, temp: 20 + (i % 7) / 10 }), { qos: 1 })
      }
      if (i === 17) pub.publish('plant/t2', JSON.stringify({ seq: 1000, level: 'error', msg: 'sensor fault' }), { qos: 1 })
      if (i === 23) pub.publish('plant/alarm', 'CRITICAL: pressure high', { qos: 1 })
      if (i === 29) pub.publish('plant/t3', JSON.stringify({ seq: 1001, status: 'failed' }), { qos: 1 })
      await sleep(10)
    }
    const r = await running
    t.is(r.stopped_by, 'limit')
    t.is(r.statistics.total_received, 123)
    t.deepEqual(r.statistics.per_topic, { 'plant/t1': 40, 'plant/t2': 41, 'plant/t3': 41, 'plant/alarm': 1 })
    t.true(r.messages.length <= 12)
    t.is(r.pruning.seen, 123)
    t.is(r.pruning.kept, r.messages.length)
    t.is(r.pruning.dropped, r.pruning.seen - r.pruning.kept)
    t.is(r.pruning.by_rule.error + r.pruning.by_rule.first_last + r.pruning.by_rule.sample, r.pruning.kept)
    t.true(r.pruning.by_rule.error >= 3)
    // the error-looking messages are all kept
    t.truthy(r.messages.find((m) => m.topic === 'plant/t2' && (m.payload as { level?: string }).level === 'error'))
    t.truthy(r.messages.find((m) => m.topic === 'plant/alarm' && m.payload === 'CRITICAL: pressure high'))
    t.truthy(r.messages.find((m) => m.topic === 'plant/t3' && (m.payload as { status?: string }).status === 'failed'))
    // first and last of every topic
    for (const topic of ['plant/t1', 'plant/t2', 'plant/t3']) {
      const seqs = r.messages.filter((m) => m.topic === topic).map(seqOf)
      t.true(seqs.includes(0), `${topic} first`)
      t.true(seqs.includes(39), `${topic} last`)
    }
    // arrival order
    const times = r.messages.map((m) => Date.parse(m.received_at))
    t.deepEqual(times, [...times].sort((x, y) => x - y))
    // the summary says what was dropped per topic
    t.true(r.pruning.summary.some((s) => /^plant\/t1: \d+ of 40 dropped/.test(s)), r.pruning.summary.join(' | '))
  })

  test(`${broker.name}: include_retained and payload decoding`, async (t) => {
    const { client, pub, session_id } = await setup(t, broker.start)
    await pub.publishAsync('ret/a', 'stored a', { qos: 1, retain: true })
    await pub.publishAsync('ret/b', '{"stored":true}', { qos: 1, retain: true })

    // include_retained false: only the live messages
    const live = collect(client, { session_id, topic: 'ret/#', duration_seconds: 20, max_messages: 1, include_retained: false })
    await subscribed(client, { 'ret/#': 1 })
    await pub.publishAsync('ret/a', 'live a', { qos: 1 })
    const l = await live
    t.is(l.statistics.total_received, 1)
    t.deepEqual(l.messages.map((m) => [m.topic, m.payload, m.retain]), [['ret/a', 'live a', false]])

    // include_retained (default true): the stored messages come first, flagged retained
    const all = collect(client, { session_id, topic: 'ret/#', duration_seconds: 20, max_messages: 3 })
    await subscribed(client, { 'ret/#': 1 })
    await pub.publishAsync('ret/b', 'live b', { qos: 1 })
    const a = await all
    t.is(a.statistics.total_received, 3)
    const retained = a.messages.filter((m) => m.retain).map((m) => [m.topic, m.payload]).sort()
    t.deepEqual(retained, [['ret/a', 'stored a'], ['ret/b', { stored: true }]])
    t.deepEqual(a.messages.filter((m) => !m.retain).map((m) => [m.topic, m.payload]), [['ret/b', 'live b']])

    // payloads: JSON as JSON, text as text, binary as base64 with its size, big ones capped at max_payload_bytes
    const binary = Buffer.from([0x00, 0x01, 0xff, 0xfe, 0x80])
    const bigText = 'x'.repeat(2000)
    const bigJson = JSON.stringify({ data: 'y'.repeat(3000) })
    const bigBinary = Buffer.alloc(500, 0xff)
    const decoded = collect(client, { session_id, topic: 'dec/#', duration_seconds: 20, max_messages: 8, max_payload_bytes: 100 })
    await subscribed(client, { 'dec/#': 1 })
    const sent: Array<[string, string | Buffer]> = [
      ['dec/json', '{"t":21.5,"ok":true}'],
      ['dec/number', '42'],
      ['dec/text', 'hello wörld'],
      ['dec/binary', binary],
      ['dec/empty', ''],
      ['dec/big-text', bigText],
      ['dec/big-json', bigJson],
      ['dec/big-binary', bigBinary],
    ]
    for (const [topic, payload] of sent) await pub.publishAsync(topic, payload, { qos: 1 })
    const d = await decoded
    const byTopic = new Map(d.messages.map((m) => [m.topic, m]))
    t.like(byTopic.get('dec/json'), { encoding: 'json', payload: { t: 21.5, ok: true }, size_bytes: 20 })
    t.like(byTopic.get('dec/number'), { encoding: 'json', payload: 42, size_bytes: 2 })
    t.like(byTopic.get('dec/text'), { encoding: 'text', payload: 'hello wörld', size_bytes: Buffer.byteLength('hello wörld') })
    t.like(byTopic.get('dec/binary'), { encoding: 'base64', payload: binary.toString('base64'), size_bytes: 5 })
    t.like(byTopic.get('dec/empty'), { encoding: 'text', payload: '', size_bytes: 0 })
    t.like(byTopic.get('dec/big-text'), { encoding: 'text', payload: 'x'.repeat(100), size_bytes: 2000, truncated: true })
    // a cut JSON document is shown as text
    t.like(byTopic.get('dec/big-json'), { encoding: 'text', payload: bigJson.slice(0, 100), size_bytes: bigJson.length, truncated: true })
    t.like(byTopic.get('dec/big-binary'), { encoding: 'base64', payload: bigBinary.subarray(0, 100).toString('base64'), size_bytes: 500, truncated: true })
    for (const m of d.messages.filter((x) => !x.topic.startsWith('dec/big'))) t.is(m.truncated, undefined, m.topic)
  })

  test(`${broker.name}: windows on the same filter one after another each get the live messages`, async (t) => {
    // aedes handled the UNSUBSCRIBE of one window and the SUBSCRIBE of the next concurrently and dropped the new
    // subscription (SUBACK, retained replay, then no live message) until the session waited for the UNSUBACK
    const { client, pub, session_id } = await setup(t, broker.start)
    for (let i = 0; i < 8; i++) {
      const running = collect(client, { session_id, topic: 'again/#', duration_seconds: 10, max_messages: 1 })
      await subscribed(client, { 'again/#': 1 })
      await pub.publishAsync('again/x', `live ${i}`, { qos: 1 })
      const r = await running
      t.is(r.stopped_by, 'limit', `window ${i}`)
      t.deepEqual(r.messages.map((m) => m.payload), [`live ${i}`])
    }
  })

  test(`${broker.name}: two windows on one filter share the broker subscription and each get every message`, async (t) => {
    const { client, pub, session_id } = await setup(t, broker.start)
    const first = collect(client, { session_id, topic: 'sh/#', duration_seconds: 20, max_messages: 20, target_count: 100 })
    await subscribed(client, { 'sh/#': 1 })
    const second = collect(client, { session_id, topic: 'sh/#', duration_seconds: 20, max_messages: 20, target_count: 100 })
    const row = await subscribed(client, { 'sh/#': 2 })
    t.is(row.subscriptions.length, 1, 'one broker subscription, shared')
    for (let i = 0; i < 10; i++) {
      await pub.publishAsync('sh/x', `x${i}`, { qos: 1 })
      await pub.publishAsync('sh/y', `y${i}`, { qos: 1 })
    }
    const [a, b] = await Promise.all([first, second])
    const expected = [...Array(10).keys()].flatMap((i) => [['sh/x', `x${i}`], ['sh/y', `y${i}`]])
    t.deepEqual(a.messages.map((m) => [m.topic, m.payload]), expected)
    t.deepEqual(b.messages.map((m) => [m.topic, m.payload]), expected)
    t.deepEqual(a.statistics.per_topic, { 'sh/x': 10, 'sh/y': 10 })
    t.deepEqual(b.statistics.per_topic, { 'sh/x': 10, 'sh/y': 10 })
    t.deepEqual((await sessions(client))[0]?.subscriptions, [], 'both left: UNSUBSCRIBEd')
  })

  // Mosquitto (like most brokers; MQTT allows it) sends one copy of a message per matching subscription of a
  // client; aedes sends one. The session drops the extra copies, so both count each message once.
  const overlapTest = test

  overlapTest(`${broker.name}: overlapping filters in one window collect each message once`, async (t) => {
    const { client, pub, session_id } = await setup(t, broker.start)
    const both = collect(client, { session_id, topics: ['ov/#', 'ov/b'], duration_seconds: 20, max_messages: 6, target_count: 100 })
    await subscribed(client, { 'ov/#': 1, 'ov/b': 1 })
    for (let i = 0; i < 3; i++) {
      await pub.publishAsync('ov/a', `a${i}`, { qos: 1 })
      await pub.publishAsync('ov/b', `b${i}`, { qos: 1 })
    }
    const o = await both
    t.deepEqual(o.filters, ['ov/#', 'ov/b'])
    t.deepEqual(o.statistics.per_topic, { 'ov/a': 3, 'ov/b': 3 })
    t.deepEqual(o.messages.map((m) => m.payload), ['a0', 'b0', 'a1', 'b1', 'a2', 'b2'])
  })

  overlapTest(`${broker.name}: two windows on overlapping filters each get one complete copy`, async (t) => {
    const { client, pub, session_id } = await setup(t, broker.start)
    const first = collect(client, { session_id, topic: 'sh/#', duration_seconds: 20, max_messages: 20, target_count: 100 })
    await subscribed(client, { 'sh/#': 1 })
    const second = collect(client, { session_id, topics: ['sh/#', 'sh/x'], duration_seconds: 20, max_messages: 20, target_count: 100 })
    const row = await subscribed(client, { 'sh/#': 2, 'sh/x': 1 })
    t.is(row.subscriptions.length, 2, 'one broker subscription per filter, shared')
    for (let i = 0; i < 10; i++) {
      await pub.publishAsync('sh/x', `x${i}`, { qos: 1 })
      await pub.publishAsync('sh/y', `y${i}`, { qos: 1 })
    }
    const [a, b] = await Promise.all([first, second])
    const expected = [...Array(10).keys()].flatMap((i) => [['sh/x', `x${i}`], ['sh/y', `y${i}`]])
    t.deepEqual(a.messages.map((m) => [m.topic, m.payload]), expected)
    t.deepEqual(b.messages.map((m) => [m.topic, m.payload]), expected)
  })

  test(`${broker.name}: closing the session mid-window returns what was collected with stopped_by closed`, async (t) => {
    const { client, pub, session_id } = await setup(t, broker.start)
    const started = Date.now()
    const running = collect(client, { session_id, topic: 'cl/#', duration_seconds: 60 })
    await subscribed(client, { 'cl/#': 1 })
    for (let i = 0; i < 5; i++) await pub.publishAsync(`cl/${i}`, `m${i}`, { qos: 1 })
    await received(client, 5)
    await ok(client, 'mqtt_close_connection', { session_id })
    const r = await running
    t.is(r.stopped_by, 'closed')
    t.is(r.statistics.total_received, 5)
    t.deepEqual(r.messages.map((m) => m.payload), ['m0', 'm1', 'm2', 'm3', 'm4'])
    t.true(Date.now() - started < 10_000)
  })

  test(`${broker.name}: a window survives a broker restart and reports the gap`, async (t) => {
    const { b, client, pub, session_id } = await setup(t, broker.start)
    // ends at the 6th message, or after 30 s if the reconnect loses messages
    const running = collect(client, { session_id, topic: 'rs/#', duration_seconds: 30, max_messages: 6, target_count: 100 })
    await subscribed(client, { 'rs/#': 1 })
    for (let i = 0; i < 3; i++) await pub.publishAsync('rs/before', `b${i}`, { qos: 1 })
    await received(client, 3)
    await b.restart()
    const row = await eventually(
      'reconnect',
      async () => (await sessions(client)).find((s) => s.state === 'connected' && s.reconnects >= 1 && s.subscriptions.some((x) => x.filter === 'rs/#' && x.granted !== null)),
      20_000,
    )
    t.is(row.reconnects, 1)
    const after = await publisher(b.url)
    t.teardown(() => after.endAsync(true))
    for (let i = 0; i < 3; i++) await after.publishAsync('rs/after', `a${i}`, { qos: 1 })
    const r = await running
    t.is(r.stopped_by, 'limit')
    t.deepEqual(r.messages.map((m) => m.payload), ['b0', 'b1', 'b2', 'a0', 'a1', 'a2'])
    t.deepEqual(r.statistics.per_topic, { 'rs/before': 3, 'rs/after': 3 })
    t.is(r.interruptions.length, 1)
    const gap = r.interruptions[0]!
    t.truthy(gap.end, 'the gap ended')
    t.true(Date.parse(gap.end!) >= Date.parse(gap.start))
    t.true(Date.parse(gap.start) > Date.parse(r.messages[2]!.received_at) - 1)
    t.true(Date.parse(gap.end!) <= Date.parse(r.messages[3]!.received_at))
    t.truthy(gap.error)
  })

  test(`${broker.name}: cancelling over raw JSON-RPC on stdio returns the partial result at once`, async (t) => {
    const b = await broker.start()
    t.teardown(() => b.close())
    const child = spawn(process.execPath, [mainPath], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', MQTT_URL: b.url } })
    t.teardown(() => {
      child.kill('SIGKILL')
    })
    const waiting = new Map<number, (m: Record<string, unknown>) => void>()
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (line) => {
      let m: { id?: number } & Record<string, unknown>
      try {
        m = JSON.parse(line) as typeof m
      } catch {
        return
      }
      if (typeof m.id === 'number') waiting.get(m.id)?.(m)
    })
    const send = (m: object): void => void child.stdin.write(JSON.stringify(m) + '\n')
    const reply = (id: number, timeoutMs = 15_000): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${id}`)), timeoutMs)
        waiting.set(id, (m) => {
          clearTimeout(timer)
          resolve(m)
        })
      })
    const request = (id: number, method: string, params: object): Promise<Record<string, unknown>> => {
      const r = reply(id)
      send({ jsonrpc: '2.0', id, method, params })
      return r
    }
    await request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } })
    send({ jsonrpc: '2.0', method: 'notifications/initialized' })
    // the default session (MQTT_URL) opens on this first call
    await request(2, 'tools/call', { name: 'mqtt_list_active_connections', arguments: {} })

    const pub = await publisher(b.url)
    t.teardown(() => pub.endAsync(true))
    const started = Date.now()
    const collecting = request(3, 'tools/call', { name: 'mqtt_subscribe_and_collect', arguments: { topic: 'cx/#', duration_seconds: 60 } })
    // wait until the window's subscription is granted, asking over the same stdio while request 3 runs
    let id = 10
    await eventually('the cx/# subscription', async () => {
      const r = await request(id++, 'tools/call', { name: 'mqtt_list_active_connections', arguments: {} })
      const rows = ((r['result'] as { structuredContent: { sessions: SessionRow[] } }).structuredContent.sessions)
      return rows.some((s) => s.subscriptions.some((x) => x.filter === 'cx/#' && x.granted !== null)) ? true : undefined
    })
    for (let i = 0; i < 4; i++) await pub.publishAsync(`cx/${i}`, `c${i}`, { qos: 1 })
    await sleep(1000)
    send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3, reason: 'user gave up' } })
    const r = await collecting
    t.true(Date.now() - started < 15_000, 'well before the 60 s window')
    const result = r['result'] as CallToolResult
    t.not(result.isError, true)
    const body = result.structuredContent as unknown as Collected
    t.is(body.stopped_by, 'cancelled')
    t.is(body.statistics.total_received, 4)
    t.deepEqual(body.messages.map((m) => m.payload), ['c0', 'c1', 'c2', 'c3'])
    t.deepEqual(JSON.parse(textOf(result)), body)
    // the server goes on answering, and the window left its subscription
    const after = await request(99, 'tools/call', { name: 'mqtt_list_active_connections', arguments: {} })
    t.deepEqual((after['result'] as { structuredContent: { sessions: SessionRow[] } }).structuredContent.sessions[0]?.subscriptions, [])
  })
}

const [aedes] = brokerMatrix()

// serial: alone in this process, so the gaps measure the server's ticks rather than this busy event loop
test.serial('progress notifications arrive at least once a second with the count so far', async (t) => {
  const { client, pub, session_id } = await setup(t, aedes!.start)
  const seen: Array<{ at: number; p: Progress }> = []
  const started = Date.now()
  const running = client.callTool(
    { name: 'mqtt_subscribe_and_collect', arguments: { session_id, topic: 'pg/#', duration_seconds: 30, max_messages: 8 } },
    CallToolResultSchema,
    // a 2 s request timeout on a call of 3 s and more: only progress keeps it alive
    { onprogress: (p) => void seen.push({ at: Date.now(), p }), resetTimeoutOnProgress: true, timeout: 2000 },
  )
  await subscribed(client, { 'pg/#': 1 })
  for (let i = 0; i < 5; i++) await pub.publishAsync('pg/x', `p${i}`, { qos: 1 })
  await sleep(3000)
  const before = seen.length
  for (let i = 5; i < 8; i++) await pub.publishAsync('pg/x', `p${i}`, { qos: 1 })
  const r = (await running) as CallToolResult
  t.not(r.isError, true)
  const body = r.structuredContent as unknown as Collected
  t.is(body.stopped_by, 'limit')
  t.is(body.statistics.total_received, 8)
  t.true(before >= 2, `${before} progress notifications in the first 3 s`)
  const gaps = seen.map((s, i) => s.at - (i === 0 ? started : seen[i - 1]!.at))
  // ticks every 1000 ms; the slack covers a loaded CI machine (2 cores, two test files at once)
  t.true(Math.max(...gaps) < 1800, `gaps ${gaps.join(', ')} ms`)
  for (const [i, s] of seen.entries()) {
    t.is(s.p.total, 8)
    t.regex(s.p.message ?? '', /^\d+ messages collected$/)
    if (i > 0) t.true(s.p.progress >= seen[i - 1]!.p.progress)
  }
  t.is(seen[before - 1]!.p.progress, 5, 'the count so far')
})

test('cancelling through the SDK ends the window on the server and releases its subscription', async (t) => {
  const { client, session_id } = await setup(t, aedes!.start)
  const controller = new AbortController()
  const started = Date.now()
  const running = client.callTool({ name: 'mqtt_subscribe_and_collect', arguments: { session_id, topic: 'ab/#', duration_seconds: 60 } }, CallToolResultSchema, {
    signal: controller.signal,
  })
  await subscribed(client, { 'ab/#': 1 })
  controller.abort('enough')
  await t.throwsAsync(running)
  await eventually('the subscription to go', async () => ((await sessions(client))[0]?.subscriptions.length === 0 ? true : undefined), 5_000)
  t.true(Date.now() - started < 10_000)
})

test('the result stays within the output budget and says truncated', async (t) => {
  const budget = 5000
  const { client, pub, session_id } = await setup(t, aedes!.start, { MQTT_MCP_OUTPUT_BUDGET_CHARS: String(budget) })

  // many big messages on distinct topics (all kept as first/last): payloads are capped, then messages halved
  const big = collect(client, { session_id, topic: 'bg/#', duration_seconds: 20, max_messages: 100, target_count: 100 })
  await subscribed(client, { 'bg/#': 1 })
  for (let i = 0; i < 100; i++) pub.publish(`bg/device-${i}`, `${i} `.padEnd(1500, 'z'), { qos: 1 })
  const b = await big
  t.is(b.stopped_by, 'limit')
  t.is(b.statistics.total_received, 100)
  t.true(b.truncated)
  t.true(b.messages.length > 0 && b.messages.length < 100)
  t.true(JSON.stringify(b).length <= budget, `${JSON.stringify(b).length} chars`)
  // pruning counts what the result shows, after the budget cut
  t.is(b.pruning.kept, b.messages.length)
  t.is(b.pruning.dropped, 100 - b.messages.length)
  t.is(b.pruning.by_rule.error + b.pruning.by_rule.first_last + b.pruning.by_rule.sample, b.messages.length)

  // many topics: the per-topic statistics and the pruning summary must shrink too
  const wide = client.callTool({ name: 'mqtt_subscribe_and_collect', arguments: { session_id, topic: 'wd/#', duration_seconds: 20, max_messages: 400, target_count: 20 } })
  await subscribed(client, { 'wd/#': 1 })
  for (let i = 0; i < 400; i++) pub.publish(`wd/building-7/floor-${i % 10}/room-${i}/temperature`, String(20 + (i % 10) / 10), { qos: 1 })
  const w = (await wide) as CallToolResult
  t.not(w.isError, true, textOf(w))
  const text = textOf(w)
  t.true(text.length <= budget, `${text.length} chars`)
  const body = w.structuredContent as unknown as Collected
  t.true(body.truncated)
  t.is(body.statistics.total_received, 400)
  t.is(body.pruning.seen, 400)
})

test('bad inputs are clear isError results naming the field', async (t) => {
  const { client, session_id } = await setup(t, aedes!.start)
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ topic: 'a/#/b' }, 'INVALID_TOPIC', /topic: .*#/],
    [{ topic: 'a+' }, 'INVALID_TOPIC', /topic: .*\+/],
    [{ topic: '' }, 'INVALID_INPUT', /topic/],
    [{ topics: ['ok/#', 'bad/#/x'] }, 'INVALID_TOPIC', /topics\[1\]/],
    [{ topics: [] }, 'INVALID_INPUT', /topic/],
    [{ topic: 'a', topics: ['b'] }, 'INVALID_INPUT', /exactly one of topic/],
    [{}, 'INVALID_INPUT', /topic/],
    [{ topics: Array.from({ length: 21 }, (_, i) => `t/${i}`) }, 'INVALID_INPUT', /20/],
    [{ topic: 'a', duration_seconds: 0 }, 'INVALID_INPUT', /duration_seconds/],
    [{ topic: 'a', duration_seconds: 301 }, 'INVALID_INPUT', /duration_seconds/],
    [{ topic: 'a', duration_seconds: 1.5 }, 'INVALID_INPUT', /duration_seconds/],
    [{ topic: 'a', max_messages: 0 }, 'INVALID_INPUT', /max_messages/],
    [{ topic: 'a', max_messages: 501 }, 'INVALID_INPUT', /max_messages: at most 500/],
    [{ topic: 'a', target_count: 0 }, 'INVALID_INPUT', /target_count/],
    [{ topic: 'a', target_count: 501 }, 'INVALID_INPUT', /target_count/],
    [{ topic: 'a', max_payload_bytes: 1 }, 'INVALID_INPUT', /max_payload_bytes/],
    [{ topic: 'a', qos: 3 }, 'INVALID_INPUT', /qos/],
    [{ topic: 'a', include_retained: 'no' }, 'INVALID_INPUT', /include_retained/],
    [{ topic: 'a', window: 3 }, 'INVALID_INPUT', /window: unknown field/],
    [{ topic: 'a', session_id: 'nope' }, 'SESSION_NOT_FOUND', /nope/],
  ]
  const started = Date.now()
  for (const [args, code, message] of cases) {
    const e = await fails(client, 'mqtt_subscribe_and_collect', { session_id, ...args })
    const what = JSON.stringify(args).slice(0, 80)
    t.is(e.code, code, what)
    t.regex(e.message, message, what)
    t.truthy(e.hint, what)
  }
  t.true(Date.now() - started < 5_000, 'refused at once, no window opened')
  t.deepEqual((await sessions(client))[0]?.subscriptions, [])
})
