/**
 * The foundation tools end to end: the built server spawned over real stdio, driven by the SDK Client,
 * against aedes and (when installed) Mosquitto started by the test; an independent subscriber checks the broker.
 */
import test from 'ava'
import { brokerMatrix } from '../helpers/brokers.js'
import { call, fails, ok, startStdioServer, textOf } from '../helpers/mcp.js'
import { witness } from '../helpers/subscriber.js'

interface Established {
  session_id: string
  protocol_version: number
  broker: { url: string; host: string; port: number; transport: string }
  client_id: string
}

for (const broker of brokerMatrix()) {
  test(`a session on ${broker.name} connects, lists, publishes at every QoS, retains and closes over stdio`, async (t) => {
    const b = await broker.start()
    const server = await startStdioServer()
    t.teardown(async () => {
      await server.close()
      await b.close()
    })
    const { tools } = await server.client.listTools()
    for (const name of ['mqtt_establish_connection', 'mqtt_list_active_connections', 'mqtt_close_connection', 'mqtt_publish_message']) {
      t.truthy(tools.find((x) => x.name === name), name)
    }

    const s = await ok<Established>(server.client, 'mqtt_establish_connection', { connection_string: b.url, name: 'bench' })
    t.regex(s.session_id, /^[0-9a-f-]{36}$/)
    // aedes speaks 3.1.1 only: auto falls back; Mosquitto 2 accepts 5
    t.is(s.protocol_version, broker.name === 'aedes' ? 4 : 5)
    t.like(s.broker, { host: '127.0.0.1', port: b.port, transport: 'mqtt' })
    t.regex(s.client_id, /^bitsperity-mqtt-mcp-[0-9a-f]{8}$/)

    const listed = await ok<{ sessions: Array<{ session_id: string; state: string; name: string }>; max_sessions: number }>(server.client, 'mqtt_list_active_connections')
    t.is(listed.sessions.length, 1)
    t.like(listed.sessions[0], { session_id: s.session_id, state: 'connected', name: 'bench' })
    t.is(listed.max_sessions, 5)

    const w = await witness(b.url, 'e2e/#')
    t.teardown(() => w.close())
    for (const qos of [0, 1, 2] as const) {
      const r = await ok<{ published: boolean; qos: number; bytes: number; ack?: { packet: string; reason_code: number } }>(server.client, 'mqtt_publish_message', {
        session_id: s.session_id,
        topic: `e2e/qos${qos}`,
        payload: `hello ${qos}`,
        qos,
      })
      t.true(r.published)
      t.is(r.bytes, `hello ${qos}`.length)
      if (qos === 0) t.is(r.ack, undefined)
      else t.like(r.ack, { packet: qos === 1 ? 'puback' : 'pubcomp', reason_code: 0 })
      const got = await w.waitFor((m) => m.topic === `e2e/qos${qos}`)
      t.is(got.payload.toString(), `hello ${qos}`)
    }

    for (const [encoding, payload, bytes] of [
      ['json', '{"on":true}', Buffer.from('{"on":true}')],
      ['base64', 'AAH/', Buffer.from([0, 1, 255])],
      ['hex', 'deadbeef', Buffer.from([0xde, 0xad, 0xbe, 0xef])],
    ] as const) {
      await ok(server.client, 'mqtt_publish_message', { topic: `e2e/enc/${encoding}`, payload, payload_encoding: encoding })
      const got = await w.waitFor((m) => m.topic === `e2e/enc/${encoding}`)
      t.deepEqual(got.payload, bytes, encoding)
    }

    await ok(server.client, 'mqtt_publish_message', { topic: 'e2e/retained', payload: 'kept', retain: true, qos: 1 })
    const late = await witness(b.url, 'e2e/retained')
    t.teardown(() => late.close())
    const retained = await late.waitFor((m) => m.topic === 'e2e/retained')
    t.true(retained.packet.retain)
    t.is(retained.payload.toString(), 'kept')

    const closed = await ok<{ closed: boolean }>(server.client, 'mqtt_close_connection', { session_id: s.session_id })
    t.true(closed.closed)
    const after = await ok<{ sessions: unknown[] }>(server.client, 'mqtt_list_active_connections')
    t.deepEqual(after.sessions, [])
    const gone = await fails(server.client, 'mqtt_publish_message', { session_id: s.session_id, topic: 'e2e/x' })
    t.is(gone.code, 'SESSION_NOT_FOUND')
  })
}

const mosquitto = brokerMatrix().find((b) => b.name === 'mosquitto')
if (mosquitto !== undefined) {
  test('MQTT 5 properties reach a v5 subscriber on Mosquitto', async (t) => {
    const b = await mosquitto.start()
    const server = await startStdioServer()
    t.teardown(async () => {
      await server.close()
      await b.close()
    })
    const w = await witness(b.url, 'v5/#', { protocolVersion: 5 })
    t.teardown(() => w.close())
    await ok(server.client, 'mqtt_establish_connection', { connection_string: b.url, protocol_version: 5 })
    await ok(server.client, 'mqtt_publish_message', {
      topic: 'v5/props',
      payload: '{"t":21.5}',
      payload_encoding: 'json',
      qos: 1,
      content_type: 'application/json',
      user_properties: { source: 'e2e', unit: 'celsius' },
      response_topic: 'v5/reply',
      correlation_data: 'req-42',
      message_expiry_seconds: 120,
    })
    const got = await w.waitFor((m) => m.topic === 'v5/props')
    const p = got.packet.properties ?? {}
    t.is(p.contentType, 'application/json')
    t.deepEqual(p.userProperties, { source: 'e2e', unit: 'celsius' })
    t.is(p.responseTopic, 'v5/reply')
    t.is(p.correlationData?.toString(), 'req-42')
    t.true((p.messageExpiryInterval ?? 0) > 0 && (p.messageExpiryInterval ?? 0) <= 120)
  })

  test('MQTT 5 properties on a 3.1.1 session are not sent and the result says so', async (t) => {
    const b = await mosquitto.start()
    const server = await startStdioServer()
    t.teardown(async () => {
      await server.close()
      await b.close()
    })
    await ok(server.client, 'mqtt_establish_connection', { connection_string: b.url, protocol_version: 4 })
    const r = await ok<{ warnings?: string[] }>(server.client, 'mqtt_publish_message', { topic: 'v4/x', content_type: 'text/plain' })
    t.regex(r.warnings?.[0] ?? '', /not sent: this session speaks MQTT 3\.1\.1/)
  })

  test('a wrong password gives AUTHENTICATION_FAILED and the canary password appears in no result or log line', async (t) => {
    const canary = 'canary-Pw-7c1e9'
    const b = await mosquitto.start({ users: { alice: canary } } as never)
    const server = await startStdioServer()
    t.teardown(async () => {
      await server.close()
      await b.close()
    })
    const wrong = await fails(server.client, 'mqtt_establish_connection', {
      connection_string: `mqtt://alice:not-${canary}@127.0.0.1:${b.port}`,
    })
    t.is(wrong.code, 'AUTHENTICATION_FAILED')
    t.false(wrong.retryable)
    const right = await ok<{ session_id: string; broker: { url: string } }>(server.client, 'mqtt_establish_connection', {
      connection_string: `mqtt://alice:${canary}@127.0.0.1:${b.port}`,
    })
    t.is(right.broker.url, `mqtt://alice:***@127.0.0.1:${b.port}`)
    const viaParam = await ok(server.client, 'mqtt_establish_connection', {
      connection_string: `mqtt://127.0.0.1:${b.port}`,
      username: 'alice',
      password: canary,
    })
    const listed = await call(server.client, 'mqtt_list_active_connections')
    await ok(server.client, 'mqtt_publish_message', { session_id: right.session_id, topic: 'auth/x', qos: 1 })
    const everything = [JSON.stringify(wrong), JSON.stringify(right), JSON.stringify(viaParam), textOf(listed), JSON.stringify(listed.structuredContent), server.stderr()]
    for (const text of everything) t.false(text.includes(canary), text.slice(0, 200))
    t.true(server.stderr().length > 0)
  })
}

test('a closed port gives BROKER_UNREACHABLE and the server keeps answering', async (t) => {
  const server = await startStdioServer()
  t.teardown(() => server.close())
  const { freePort } = await import('../helpers/brokers.js')
  const port = await freePort()
  const e = await fails(server.client, 'mqtt_establish_connection', { connection_string: `mqtt://127.0.0.1:${port}`, protocol_version: 4 })
  t.is(e.code, 'BROKER_UNREACHABLE')
  t.true(e.retryable)
  t.regex(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`))
  const listed = await ok<{ sessions: unknown[] }>(server.client, 'mqtt_list_active_connections')
  t.deepEqual(listed.sessions, [], 'a failed connect leaves no session behind')
})
