/**
 * mqtt_request_response end to end through the SDK Client, with responders written on mqtt.js: plain topic
 * pairing on aedes (MQTT 3.1.1, JSON id echoed), Correlation Data on Mosquitto (MQTT 5) with a decoy reply
 * carrying the wrong Correlation Data before each real one, timeouts, expect_schema and the publish policy.
 */
import test, { type ExecutionContext } from 'ava'
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt'
import { requestResponse } from '../../src/tools/request-response.js'
import { tools } from '../../src/tools/index.js'
import type { Tool } from '../../src/tools/tool.js'
import { mosquittoPath, startAedes, startMosquitto, type TestBroker } from '../helpers/brokers.js'
import { call, fails, ok, startInProcess, type InProcessServer } from '../helpers/mcp.js'

interface Reply {
  attempt: number
  topic: string
  payload: unknown
  encoding: string
  size_bytes: number
  rtt_ms: number
  schema_errors: string[]
  correlation: 'mqtt5' | 'topic'
}

interface Result {
  protocol_version: number
  requests: number
  replies: Reply[]
  rtt_ms: { min: number; p50: number; max: number } | null
  timed_out: number
  timed_out_attempts: number[]
  ignored_messages: number
  schema_valid: boolean | null
  stopped_by: string
  notes: string[]
}

const served: readonly Tool[] = [...new Map([...tools, requestResponse].map((x) => [x.name, x])).values()]

/** A responder: subscribes to `requestTopic` and answers each request with `answer`. */
async function responder(url: string, version: 4 | 5, requestTopic: string, answer: (client: MqttClient, payload: Buffer, packet: IPublishPacket) => void): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion: version, reconnectPeriod: 0, clientId: `responder-${Math.random().toString(16).slice(2, 10)}` })
  client.on('message', (_topic, payload, packet) => answer(client, payload, packet))
  await client.subscribeAsync(requestTopic, { qos: 1 })
  return client
}

async function setup(t: ExecutionContext, broker: TestBroker, env: Record<string, string> = {}): Promise<InProcessServer> {
  const server = await startInProcess({ MQTT_URL: broker.url, ...env }, { tools: served })
  t.teardown(async () => {
    await server.close()
    await broker.close()
  })
  return server
}

const checkRtt = (t: ExecutionContext, r: Result): void => {
  t.truthy(r.rtt_ms)
  const { min, p50, max } = r.rtt_ms!
  t.true(min <= p50 && p50 <= max, JSON.stringify(r.rtt_ms))
  t.deepEqual([...r.replies.map((x) => x.rtt_ms)].sort((a, b) => a - b)[0], min)
}

test('mqtt_request_response on aedes (3.1.1) pairs by topic and prefers replies echoing the JSON id', async (t) => {
  const b = await startAedes()
  const server = await setup(t, b)
  const seen: unknown[] = []
  const r1 = await responder(b.url, 4, 'rpc/echo/request', (client, payload) => {
    const req = JSON.parse(payload.toString()) as { id: number }
    seen.push(req)
    // a reply to someone else's request first: it echoes another id and must not count
    client.publish('rpc/echo/response', JSON.stringify({ id: req.id + 1000, echo: 'not yours' }))
    client.publish('rpc/echo/response', JSON.stringify({ id: req.id, echo: req }))
  })
  t.teardown(() => r1.endAsync(true))

  const r = await ok<Result>(server.client, 'mqtt_request_response', {
    request_topic: 'rpc/echo/request',
    payload: '{"id": 7, "x": 1}',
    payload_encoding: 'json',
    response_topic: 'rpc/echo/response',
    repeat: 3,
    timeout_seconds: 5,
  })
  t.is(r.protocol_version, 4)
  t.is(r.requests, 3)
  t.is(r.replies.length, 3)
  t.deepEqual(r.replies.map((x) => x.attempt), [1, 2, 3])
  for (const reply of r.replies) {
    t.is(reply.correlation, 'topic')
    t.is(reply.encoding, 'json')
    t.deepEqual(reply.payload, { id: 7, echo: { id: 7, x: 1 } })
    t.deepEqual(reply.schema_errors, [])
  }
  t.is(r.timed_out, 0)
  t.is(r.ignored_messages, 3)
  t.is(r.schema_valid, null)
  t.is(r.stopped_by, 'completed')
  checkRtt(t, r)
  t.is(seen.length, 3)
})

test('mqtt_request_response checks replies against expect_schema, and rejects a bad schema naming expect_schema', async (t) => {
  const b = await startAedes()
  const server = await setup(t, b)
  const r1 = await responder(b.url, 4, 'rpc/add/request', (client, payload) => {
    const { a, b: bb } = JSON.parse(payload.toString()) as { a: number; b: number }
    client.publish('rpc/add/response', JSON.stringify({ result: a + bb }))
  })
  t.teardown(() => r1.endAsync(true))
  const args = { request_topic: 'rpc/add/request', payload: '{"a": 2, "b": 3}', response_topic: 'rpc/add/response', timeout_seconds: 5 }

  const good = await ok<Result>(server.client, 'mqtt_request_response', {
    ...args,
    expect_schema: { type: 'object', required: ['result'], properties: { result: { type: 'number' } } },
  })
  t.deepEqual(good.replies[0]?.payload, { result: 5 })
  t.deepEqual(good.replies[0]?.schema_errors, [])
  t.true(good.schema_valid)

  const bad = await ok<Result>(server.client, 'mqtt_request_response', {
    ...args,
    expect_schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', required: ['result', 'unit'], properties: { result: { type: 'string' } } },
  })
  t.false(bad.schema_valid)
  const errors = bad.replies[0]?.schema_errors ?? []
  t.true(errors.some((e) => /required property 'unit'/.test(e)), errors.join('; '))
  t.true(errors.some((e) => /^\/result must be string/.test(e)), errors.join('; '))

  const invalid = await fails(server.client, 'mqtt_request_response', { ...args, expect_schema: { type: 'nonsense' } })
  t.is(invalid.code, 'INVALID_INPUT')
  t.regex(invalid.message, /expect_schema/)
  t.deepEqual(invalid.fields?.map((f) => f.field), ['expect_schema'])
})

test('mqtt_request_response counts a silent responder as timed out, not as an error', async (t) => {
  const b = await startAedes()
  const server = await setup(t, b)
  const result = await call(server.client, 'mqtt_request_response', { request_topic: 'rpc/void/request', payload: 'ping', response_topic: 'rpc/void/response', timeout_seconds: 1, repeat: 2 })
  t.not(result.isError, true)
  const r = result.structuredContent as unknown as Result
  t.is(r.timed_out, 2)
  t.deepEqual(r.timed_out_attempts, [1, 2])
  t.deepEqual(r.replies, [])
  t.is(r.rtt_ms, null)
  t.true(r.notes.some((n) => /No reply on rpc\/void\/response within 1 s/.test(n)))
})

test('mqtt_request_response is refused in read-only mode and outside the allow-list', async (t) => {
  const b = await startAedes()
  const server = await setup(t, b, { MQTT_MCP_READ_ONLY: 'true' })
  const denied = await fails(server.client, 'mqtt_request_response', { request_topic: 'rpc/x/request', response_topic: 'rpc/x/response' })
  t.is(denied.code, 'PUBLISH_DENIED')
  const other = await startInProcess({ MQTT_URL: b.url, MQTT_MCP_PUBLISH_ALLOW: 'rpc/allowed/#' }, { tools: served })
  t.teardown(() => other.close())
  const outside = await fails(other.client, 'mqtt_request_response', { request_topic: 'rpc/x/request', response_topic: 'rpc/x/response' })
  t.is(outside.code, 'PUBLISH_DENIED')
  t.regex(outside.message, /rpc\/x\/request/)
  const badTopic = await fails(other.client, 'mqtt_request_response', { request_topic: 'rpc/+/request', response_topic: 'rpc/x/response' })
  t.is(badTopic.code, 'INVALID_TOPIC')
})

const mosquittoTest = mosquittoPath() === undefined ? test.skip : test

mosquittoTest('mqtt_request_response on Mosquitto (MQTT 5) sends Response Topic and Correlation Data; only the matching reply counts', async (t) => {
  const b = await startMosquitto()
  const server = await setup(t, b)
  const requests: Array<{ responseTopic?: string; correlation?: string }> = []
  const r1 = await responder(b.url, 5, 'rpc/v5/request', (client, payload, packet) => {
    const responseTopic = packet.properties?.responseTopic
    const correlationData = packet.properties?.correlationData
    requests.push({ ...(responseTopic !== undefined ? { responseTopic } : {}), ...(correlationData !== undefined ? { correlation: correlationData.toString() } : {}) })
    if (responseTopic === undefined || correlationData === undefined) return
    // a decoy first: same topic, someone else's Correlation Data, and a payload that would pass
    client.publish(responseTopic, JSON.stringify({ decoy: true }), { qos: 1, properties: { correlationData: Buffer.from('someone-else') } })
    setTimeout(() => client.publish(responseTopic, JSON.stringify({ ok: true, echo: payload.toString() }), { qos: 1, properties: { correlationData } }), 20)
  })
  t.teardown(() => r1.endAsync(true))

  const r = await ok<Result>(server.client, 'mqtt_request_response', {
    request_topic: 'rpc/v5/request',
    payload: 'hello',
    response_topic: 'rpc/v5/response',
    repeat: 3,
    timeout_seconds: 5,
    expect_schema: { type: 'object', required: ['ok'], properties: { ok: { const: true } } },
  })
  t.is(r.protocol_version, 5)
  t.is(r.replies.length, 3)
  for (const reply of r.replies) {
    t.is(reply.correlation, 'mqtt5')
    t.deepEqual(reply.payload, { ok: true, echo: 'hello' })
    t.deepEqual(reply.schema_errors, [])
  }
  t.is(r.ignored_messages, 3)
  t.is(r.timed_out, 0)
  t.true(r.schema_valid)
  checkRtt(t, r)
  t.true(r.rtt_ms!.min >= 15, `the real reply comes 20 ms after the decoy: ${JSON.stringify(r.rtt_ms)}`)
  t.is(requests.length, 3)
  t.true(requests.every((q) => q.responseTopic === 'rpc/v5/response'))
  t.is(new Set(requests.map((q) => q.correlation)).size, 3, 'fresh Correlation Data per request')
})
