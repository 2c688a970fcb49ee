/**
 * mqtt_retained_messages end to end through the SDK Client, against aedes and (when installed) Mosquitto:
 * retained messages published by an independent mqtt.js client are listed with previews, a dry run clears
 * nothing, a real clear leaves a fresh subscriber nothing, and the publish policy refuses clearing.
 */
import test, { type ExecutionContext } from 'ava'
import mqtt from 'mqtt'
import { retainedMessages } from '../../src/tools/retained-messages.js'
import { tools } from '../../src/tools/index.js'
import type { Tool } from '../../src/tools/tool.js'
import { brokerMatrix, startAedes, type TestBroker } from '../helpers/brokers.js'
import { fails, ok, startInProcess, type InProcessServer } from '../helpers/mcp.js'

interface Entry {
  topic: string
  payload: unknown
  encoding: string
  size_bytes: number
  kind: string
  truncated?: boolean
}

interface Result {
  action: string
  retained?: Entry[]
  dry_run?: boolean
  would_clear?: string[]
  cleared?: string[]
  denied?: string[]
  count: number
  listed: number
  truncated: boolean
  notes: string[]
}

const served: readonly Tool[] = [...new Map([...tools, retainedMessages].map((x) => [x.name, x])).values()]
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const BIG = 'x'.repeat(1000)

/** Publishes the fixture: four retained topics below ret/ and one live (not retained) message. */
async function seed(url: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `seed-${Math.random().toString(16).slice(2, 10)}` })
  await client.publishAsync('ret/a', '{"t":21.5}', { qos: 1, retain: true })
  await client.publishAsync('ret/b', 'online', { qos: 1, retain: true })
  await client.publishAsync('ret/c', Buffer.from([0, 1, 2, 255]), { qos: 1, retain: true })
  await client.publishAsync('ret/big', BIG, { qos: 1, retain: true })
  await client.publishAsync('ret/live', 'not kept', { qos: 1, retain: false })
  await client.endAsync()
}

/** Retained topics a fresh subscriber receives below `filter` within `ms`. */
async function freshRetained(url: string, filter: string, ms = 600): Promise<string[]> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `fresh-${Math.random().toString(16).slice(2, 10)}` })
  const seen: string[] = []
  client.on('message', (topic, payload, packet) => {
    if (packet.retain && payload.length > 0) seen.push(topic)
  })
  await client.subscribeAsync(filter, { qos: 0 })
  await sleep(ms)
  await client.endAsync(true)
  return seen.sort()
}

async function setup(t: ExecutionContext, broker: TestBroker, env: Record<string, string> = {}): Promise<InProcessServer> {
  const server = await startInProcess({ MQTT_URL: broker.url, ...env }, { tools: served })
  t.teardown(async () => {
    await server.close()
    await broker.close()
  })
  await seed(broker.url)
  return server
}

for (const broker of brokerMatrix()) {
  test(`mqtt_retained_messages on ${broker.name} lists previews, dry-runs a clear, then clears`, async (t) => {
    const b = await broker.start()
    const server = await setup(t, b)

    const list = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', duration_seconds: 1 })
    t.is(list.count, 4)
    t.is(list.listed, 4)
    t.false(list.truncated)
    const byTopic = Object.fromEntries((list.retained ?? []).map((e) => [e.topic, e]))
    t.deepEqual(Object.keys(byTopic), ['ret/a', 'ret/b', 'ret/big', 'ret/c'])
    t.like(byTopic['ret/a'], { payload: { t: 21.5 }, encoding: 'json', kind: 'json', size_bytes: 10 })
    t.like(byTopic['ret/b'], { payload: 'online', encoding: 'text', kind: 'text', size_bytes: 6 })
    t.like(byTopic['ret/c'], { payload: 'AAEC/w==', encoding: 'base64', kind: 'binary', size_bytes: 4 })
    t.like(byTopic['ret/big'], { encoding: 'text', kind: 'text', size_bytes: 1000, truncated: true })
    t.is((byTopic['ret/big']?.payload as string).length, 256)

    const dry = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', action: 'clear', duration_seconds: 1 })
    t.true(dry.dry_run)
    t.deepEqual(dry.would_clear, ['ret/a', 'ret/b', 'ret/big', 'ret/c'])
    t.is(dry.count, 4)
    t.is(dry.cleared, undefined)
    t.deepEqual(await freshRetained(b.url, 'ret/#'), ['ret/a', 'ret/b', 'ret/big', 'ret/c'], 'a dry run clears nothing')

    const cleared = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', action: 'clear', dry_run: false, duration_seconds: 1 })
    t.false(cleared.dry_run)
    t.deepEqual(cleared.cleared, ['ret/a', 'ret/b', 'ret/big', 'ret/c'])
    t.is(cleared.count, 4)
    t.deepEqual(await freshRetained(b.url, 'ret/#'), [], 'a fresh subscriber sees no retained message')

    const after = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', duration_seconds: 1 })
    t.is(after.count, 0)
    t.true(after.notes.some((n) => /No retained messages below ret\/#/.test(n)))
  })
}

test('mqtt_retained_messages honours max and shows truncated', async (t) => {
  const b = await startAedes()
  const server = await setup(t, b)
  const r = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', max: 2, duration_seconds: 1 })
  t.is(r.count, 2)
  t.true(r.truncated)
  t.true(r.notes.some((n) => /More than max \(2\)/.test(n)))
})

test('mqtt_retained_messages refuses to clear in read-only mode but still lists', async (t) => {
  const b = await startAedes()
  const server = await setup(t, b, { MQTT_MCP_READ_ONLY: 'true' })
  for (const dryRun of [true, false]) {
    const e = await fails(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', action: 'clear', dry_run: dryRun, duration_seconds: 1 })
    t.is(e.code, 'PUBLISH_DENIED')
    t.regex(e.message, /read-only/)
  }
  const list = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', duration_seconds: 1 })
  t.is(list.count, 4)
  t.deepEqual(await freshRetained(b.url, 'ret/#'), ['ret/a', 'ret/b', 'ret/big', 'ret/c'])
})

test('mqtt_retained_messages refuses a clear reaching outside the allow-list, naming the topics', async (t) => {
  const b = await startAedes()
  const server = await setup(t, b, { MQTT_MCP_PUBLISH_ALLOW: 'ret/a,ret/b' })
  const dry = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', action: 'clear', duration_seconds: 1 })
  t.deepEqual(dry.denied, ['ret/big', 'ret/c'])
  t.true(dry.notes.some((n) => /refused as a whole/.test(n)))

  const e = await fails(server.client, 'mqtt_retained_messages', { pattern: 'ret/#', action: 'clear', dry_run: false, duration_seconds: 1 })
  t.is(e.code, 'PUBLISH_DENIED')
  t.regex(e.message, /ret\/big, ret\/c/)
  t.deepEqual(await freshRetained(b.url, 'ret/#'), ['ret/a', 'ret/b', 'ret/big', 'ret/c'], 'nothing was cleared')

  const narrow = await ok<Result>(server.client, 'mqtt_retained_messages', { pattern: 'ret/a', action: 'clear', dry_run: false, duration_seconds: 1 })
  t.deepEqual(narrow.cleared, ['ret/a'])
  t.deepEqual(await freshRetained(b.url, 'ret/#'), ['ret/b', 'ret/big', 'ret/c'])
})
