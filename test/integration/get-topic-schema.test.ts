/**
 * mqtt_get_topic_schema end to end: an SDK Client in process (in-memory pair) against aedes, with an mqtt.js
 * client publishing during the window, and once over real stdio against the demo fleet.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import test from 'ava'
import mqtt from 'mqtt'
import { getTopicSchema } from '../../src/tools/get-topic-schema.js'
import { tools } from '../../src/tools/index.js'
import { startAedes, type TestBroker } from '../helpers/brokers.js'
import { call, fails, ok, startInProcess, startStdioServer, textOf } from '../helpers/mcp.js'

type Schema = { [key: string]: unknown }

interface SchemaReply {
  session_id: string
  topic: string
  samples: number
  topic_count: number
  stopped_by: string
  formats: Record<string, number>
  schema: Schema | null
  per_topic: Array<{ topic: string; samples: number; formats: Record<string, number>; schema: Schema | null }>
  confidence: 'low' | 'medium' | 'high'
  score: number
  truncated: boolean
  notes: string[]
}

// every registered tool plus this one, which src/tools/index.ts may not list yet
const served = [...tools.filter((x) => x.name !== getTopicSchema.name), getTopicSchema]

const prop = (s: Schema | null, name: string): Schema => (s?.['properties'] as Record<string, Schema>)[name]!

async function setup(t: { teardown: (f: () => Promise<void>) => void }, env: Record<string, string> = {}): Promise<{ broker: TestBroker; client: Client; publisher: mqtt.MqttClient }> {
  const broker = await startAedes()
  const server = await startInProcess({ MQTT_URL: broker.url, ...env }, { tools: served })
  const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `schema-pub-${Math.random().toString(16).slice(2, 10)}` })
  t.teardown(async () => {
    await publisher.endAsync(true)
    await server.close()
    await broker.close()
  })
  return { broker, client: server.client, publisher }
}

/** Resolves once the broker granted the session's subscription to `filter`: publishing after that is seen. */
async function subscribed(client: Client, filter: string): Promise<void> {
  const deadline = Date.now() + 5000
  for (;;) {
    const listed = await ok<{ sessions: Array<{ subscriptions: Array<{ filter: string; granted: number | null }> }> }>(client, 'mqtt_list_active_connections')
    if (listed.sessions.some((s) => s.subscriptions.some((x) => x.filter === filter && x.granted !== null))) return
    if (Date.now() > deadline) throw new Error(`${filter}: not subscribed within 5 s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('the tool is described with its defaults, limits and read-only annotations', async (t) => {
  const server = await startInProcess({}, { tools: served })
  t.teardown(() => server.close())
  const { tools: listed } = await server.client.listTools()
  const tool = listed.find((x) => x.name === 'mqtt_get_topic_schema')!
  t.like(tool.annotations, { readOnlyHint: true, openWorldHint: true })
  t.deepEqual((tool.inputSchema as { required?: string[] }).required, ['topic'])
  const props = tool.inputSchema.properties as Record<string, { default?: number; minimum?: number; maximum?: number }>
  t.like(props['duration_seconds'], { default: 30, minimum: 1, maximum: 300 })
  t.like(props['min_samples'], { default: 10, minimum: 1, maximum: 10000 })
  t.like(props['max_samples'], { default: 500, minimum: 1, maximum: 10000 })
  for (const words of ['30', '300', '500', '10000', 'draft 2020-12', 'min_samples']) t.true(tool.description!.includes(words), words)
})

test('messages published during the window give formats, required fields, ranges, enums and presence', async (t) => {
  const { client, publisher } = await setup(t)
  const pending = ok<SchemaReply>(client, 'mqtt_get_topic_schema', { topic: 'home/+/climate', duration_seconds: 20, max_samples: 12, min_samples: 5 })
  await subscribed(client, 'home/+/climate')
  for (let i = 0; i < 12; i++) {
    const payload = { temperature: 20 + i / 2, humidity: 40 + i, mode: i % 3 === 0 ? 'eco' : 'comfort', ...(i % 4 !== 0 ? { battery: 90 - i } : {}) }
    await publisher.publishAsync(`home/${i % 2 === 0 ? 'kitchen' : 'hall'}/climate`, JSON.stringify(payload))
  }
  const r = await pending
  t.like(r, { topic: 'home/+/climate', samples: 12, topic_count: 2, stopped_by: 'limit', confidence: 'medium', truncated: false })
  t.deepEqual(r.formats, { json: 12 })
  t.is(r.score, 0.706)
  t.is(r.schema!['$schema'], 'https://json-schema.org/draft/2020-12/schema')
  t.deepEqual(r.schema!['required'], ['temperature', 'humidity', 'mode'])
  t.like(prop(r.schema, 'temperature'), { type: 'number', minimum: 20, maximum: 25.5, 'x-mean': 22.75 })
  t.like(prop(r.schema, 'humidity'), { type: 'integer', minimum: 40, maximum: 51 })
  t.deepEqual(prop(r.schema, 'mode')['enum'], ['comfort', 'eco'])
  t.is(prop(r.schema, 'battery')['x-presence'], 0.75)
  t.deepEqual(r.per_topic, [], 'both rooms have one shape')
  t.true(r.notes.some((n) => n.includes('max_samples (12)')))
})

test('too few samples give low confidence, and topics of different shapes are described one by one', async (t) => {
  const { client, publisher } = await setup(t)
  // retained: delivered the moment the window subscribes
  await publisher.publishAsync('dev/plug', JSON.stringify({ power: 85, state: 'ON' }), { retain: true, qos: 1 })
  await publisher.publishAsync('dev/temp', JSON.stringify({ temperature: 21.5 }), { retain: true, qos: 1 })
  await publisher.publishAsync('dev/status', 'online', { retain: true, qos: 1 })
  const r = await ok<SchemaReply>(client, 'mqtt_get_topic_schema', { topic: 'dev/#', duration_seconds: 10, max_samples: 3 })
  t.like(r, { samples: 3, stopped_by: 'limit', confidence: 'low' })
  t.deepEqual(r.formats, { json: 2, text: 1 })
  t.true(r.score < 0.5)
  t.true(r.notes.some((n) => n.includes('Only 3 samples (min_samples 10)')))
  t.deepEqual(r.per_topic.map((p) => p.topic).sort(), ['dev/plug', 'dev/status', 'dev/temp'])
  const plug = r.per_topic.find((p) => p.topic === 'dev/plug')!
  t.deepEqual(plug.schema!['required'], ['power', 'state'])
  t.is(r.per_topic.find((p) => p.topic === 'dev/status')!.schema, null)
  t.is(r.schema!['required'], undefined, 'no field is in every object overall')
})

test('a quiet topic gives no samples, no schema and says why', async (t) => {
  const { client } = await setup(t)
  const r = await ok<SchemaReply>(client, 'mqtt_get_topic_schema', { topic: 'nobody/home', duration_seconds: 1 })
  t.like(r, { samples: 0, stopped_by: 'duration', schema: null, confidence: 'low', score: 0 })
  t.deepEqual(r.formats, {})
  t.true(r.notes.some((n) => n.startsWith('Nothing was published on nobody/home in 1 s')))
})

test('a result larger than the output budget drops examples and per-topic entries and says so', async (t) => {
  const { client, publisher } = await setup(t, { MQTT_MCP_OUTPUT_BUDGET_CHARS: '3000' })
  for (let i = 0; i < 20; i++) {
    const payload = Object.fromEntries(Array.from({ length: 6 }, (_, k) => [`field_${i}_${k}`, `value number ${k} of topic ${i}`]))
    await publisher.publishAsync(`wide/${String(i).padStart(2, '0')}`, JSON.stringify(payload), { retain: true, qos: 1 })
  }
  const raw = await call(client, 'mqtt_get_topic_schema', { topic: 'wide/+', duration_seconds: 10, max_samples: 20 })
  t.not(raw.isError, true)
  t.true(textOf(raw).length <= 3000, `${textOf(raw).length} characters`)
  const r = raw.structuredContent as unknown as SchemaReply
  t.is(r.samples, 20)
  t.true(r.truncated)
  t.false(JSON.stringify(r).includes('"examples"'))
  t.true(r.per_topic.length < 20)
  t.true(r.notes.some((n) => n.includes('output budget')))
})

test('bad inputs are refused with their codes and the server still answers', async (t) => {
  const { client } = await setup(t)
  t.like(await fails(client, 'mqtt_get_topic_schema', { topic: 'a/#/b' }), { code: 'INVALID_TOPIC' })
  t.like(await fails(client, 'mqtt_get_topic_schema', { topic: 'a/b', duration_seconds: 0 }), { code: 'INVALID_INPUT' })
  t.like(await fails(client, 'mqtt_get_topic_schema', { topic: 'a/b', max_samples: 10_001 }), { code: 'INVALID_INPUT' })
  t.like(await fails(client, 'mqtt_get_topic_schema', {}), { code: 'INVALID_INPUT' })
  const unknown = await fails(client, 'mqtt_get_topic_schema', { topic: 'a/b', samples: 3 })
  t.is(unknown.code, 'INVALID_INPUT')
  t.regex(unknown.message, /samples/)
  const r = await ok<SchemaReply>(client, 'mqtt_get_topic_schema', { topic: 'a/b', duration_seconds: 1 })
  t.is(r.samples, 0)
})

// needs getTopicSchema registered in src/tools/index.ts: the spawned server serves only registered tools
test('over real stdio the demo press telemetry gets a schema', async (t) => {
  const server = await startStdioServer(['--demo'])
  t.teardown(() => server.close())
  const r = await ok<SchemaReply>(server.client, 'mqtt_get_topic_schema', { topic: 'plant/line1/press01/telemetry', duration_seconds: 2, min_samples: 3 })
  t.true(r.samples >= 3, `${r.samples} samples`)
  t.is(r.formats['json'], r.samples)
  t.deepEqual([...(r.schema!['required'] as string[])].sort(), ['cycle', 'pressure_bar', 'temp_c'])
  t.is(prop(r.schema, 'cycle')['type'], 'integer')
  const pressure = prop(r.schema, 'pressure_bar')
  t.true((pressure['minimum'] as number) <= (pressure['maximum'] as number))
  t.not(r.confidence, 'low')
})
