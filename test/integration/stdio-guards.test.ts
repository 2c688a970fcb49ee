/**
 * Bad input, limits, publish policy, the default session and shutdown, over real stdio against aedes:
 * every refusal is an isError result naming the field, and the next call still works.
 */
import { spawn } from 'node:child_process'
import test from 'ava'
import { startAedes, type TestBroker } from '../helpers/brokers.js'
import { fails, mainPath, ok, startStdioServer } from '../helpers/mcp.js'
import { witness } from '../helpers/subscriber.js'

let broker: TestBroker
test.before(async () => {
  broker = await startAedes()
})
test.after.always(async () => {
  await broker.close()
})

test('bad inputs are isError results naming the field, and the next call still works', async (t) => {
  const server = await startStdioServer()
  t.teardown(() => server.close())
  const { session_id } = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: broker.url })

  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['wrong type', { topic: 'a/b', qos: '1' }, 'INVALID_INPUT', /qos: expected one of 0, 1, 2/],
    ['unknown field', { topic: 'a/b', retained: true }, 'INVALID_INPUT', /retained: unknown field/],
    ['missing field', { payload: 'x' }, 'INVALID_INPUT', /topic: required, expected a non-empty string/],
    ['wildcard publish +', { topic: 'a/+/b' }, 'INVALID_TOPIC', /wildcard/],
    ['wildcard publish #', { topic: 'a/#' }, 'INVALID_TOPIC', /wildcard/],
    ['NUL in topic', { topic: 'a\u0000b' }, 'INVALID_TOPIC', /U\+0000|null/i],
    ['invalid JSON payload', { topic: 'a/b', payload: '{nope', payload_encoding: 'json' }, 'INVALID_INPUT', /not valid JSON/],
    ['invalid base64', { topic: 'a/b', payload: '@@@', payload_encoding: 'base64' }, 'INVALID_INPUT', /base64/],
    ['unknown session', { session_id: 'no-such-session', topic: 'a/b' }, 'SESSION_NOT_FOUND', /no-such-session/],
  ]
  for (const [what, args, code, message] of cases) {
    const e = await fails(server.client, 'mqtt_publish_message', { session_id, ...args })
    t.is(e.code, code, what)
    t.regex(e.message, message, what)
    t.truthy(e.hint, what)
    // the server keeps serving: a good call right after the bad one works
    const good = await ok<{ published: boolean }>(server.client, 'mqtt_publish_message', { session_id, topic: 'guards/ok' })
    t.true(good.published, what)
  }

  const badUrls: Array<[string, RegExp]> = [
    ['http://127.0.0.1:1883', /scheme|mqtt/i],
    ['mqtt://', /host/i],
    ['mqtt://127.0.0.1:99999', /port/i],
    ['tcp://127.0.0.1:1883', /mqtt/],
  ]
  for (const [url, message] of badUrls) {
    const e = await fails(server.client, 'mqtt_establish_connection', { connection_string: url })
    t.is(e.code, 'INVALID_INPUT', url)
    t.regex(e.message, /connection_string/, url)
    t.regex(e.message, message, url)
    t.deepEqual(e.fields?.map((f) => f.field), ['connection_string'])
  }
  const e = await fails(server.client, 'mqtt_establish_connection', { connection_string: broker.url, connect_timeout_seconds: 0, tls: { ca: 42 } })
  t.deepEqual(e.fields?.map((f) => f.field).sort(), ['connect_timeout_seconds', 'tls.ca'])
  const listed = await ok<{ sessions: unknown[] }>(server.client, 'mqtt_list_active_connections')
  t.is(listed.sessions.length, 1)
})

test('an oversize payload gives PAYLOAD_TOO_LARGE with the limit', async (t) => {
  const server = await startStdioServer([], { MQTT_MCP_MAX_PAYLOAD_BYTES: '1000', MQTT_URL: broker.url })
  t.teardown(() => server.close())
  const e = await fails(server.client, 'mqtt_publish_message', { topic: 'big/x', payload: 'x'.repeat(1001) })
  t.is(e.code, 'PAYLOAD_TOO_LARGE')
  t.regex(e.message, /1001 bytes.*at most 1000/)
  await ok(server.client, 'mqtt_publish_message', { topic: 'big/x', payload: 'x'.repeat(1000) })
})

test('the default broker from MQTT_URL is used when session_id is left out', async (t) => {
  const server = await startStdioServer([], { MQTT_URL: broker.url })
  t.teardown(() => server.close())
  const w = await witness(broker.url, 'default/#')
  t.teardown(() => w.close())
  await ok(server.client, 'mqtt_publish_message', { topic: 'default/hello', payload: 'hi' })
  t.is((await w.waitFor((m) => m.topic === 'default/hello')).payload.toString(), 'hi')
  const listed = await ok<{ sessions: Array<{ name: string }> }>(server.client, 'mqtt_list_active_connections')
  t.is(listed.sessions.length, 1)
  t.is(listed.sessions[0]?.name, 'default')
})

test('without a default broker, leaving out session_id with two sessions open names the field', async (t) => {
  const server = await startStdioServer()
  t.teardown(() => server.close())
  const none = await fails(server.client, 'mqtt_publish_message', { topic: 'x/y' })
  t.is(none.code, 'SESSION_NOT_FOUND')
  t.regex(none.hint, /mqtt_establish_connection/)
  await ok(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
  await ok(server.client, 'mqtt_publish_message', { topic: 'x/y' })
  await ok(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
  const two = await fails(server.client, 'mqtt_publish_message', { topic: 'x/y' })
  t.is(two.code, 'INVALID_INPUT')
  t.deepEqual(two.fields?.map((f) => f.field), ['session_id'])
})

test('the session limit gives RESOURCE_LIMIT and closing one makes room', async (t) => {
  const server = await startStdioServer([], { MQTT_MCP_MAX_SESSIONS: '2' })
  t.teardown(() => server.close())
  const a = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
  await ok(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
  const e = await fails(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
  t.is(e.code, 'RESOURCE_LIMIT')
  t.regex(e.hint, /mqtt_close_connection/)
  await ok(server.client, 'mqtt_close_connection', { session_id: a.session_id })
  await ok(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
})

test('an idle session past its TTL is closed and gives SESSION_EXPIRED; a used one stays', async (t) => {
  const server = await startStdioServer([], { MQTT_MCP_SESSION_TTL_SECONDS: '2' })
  t.teardown(() => server.close())
  const idle = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
  const busy = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: broker.url })
  // keep one session in use every 500 ms for 3 s: its idle time never reaches the TTL
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 500))
    await ok(server.client, 'mqtt_publish_message', { session_id: busy.session_id, topic: 'ttl/busy' })
  }
  const e = await fails(server.client, 'mqtt_publish_message', { session_id: idle.session_id, topic: 'ttl/idle' })
  t.is(e.code, 'SESSION_EXPIRED')
  t.regex(e.hint, /mqtt_establish_connection/)
  const listed = await ok<{ sessions: Array<{ session_id: string }> }>(server.client, 'mqtt_list_active_connections')
  t.deepEqual(listed.sessions.map((s) => s.session_id), [busy.session_id])
})

test('read-only mode refuses every publish with PUBLISH_DENIED', async (t) => {
  const server = await startStdioServer(['--read-only'], { MQTT_URL: broker.url })
  t.teardown(() => server.close())
  const e = await fails(server.client, 'mqtt_publish_message', { topic: 'ro/x' })
  t.is(e.code, 'PUBLISH_DENIED')
  t.regex(e.message, /read-only/)
})

test('the allow-list limits where the model may publish', async (t) => {
  const server = await startStdioServer([], { MQTT_URL: broker.url, MQTT_MCP_PUBLISH_ALLOW: 'cmd/+/set,sandbox/#' })
  t.teardown(() => server.close())
  const e = await fails(server.client, 'mqtt_publish_message', { topic: 'alarm/siren' })
  t.is(e.code, 'PUBLISH_DENIED')
  t.regex(e.message, /cmd\/\+\/set, sandbox\/#/)
  await ok(server.client, 'mqtt_publish_message', { topic: 'cmd/lamp/set', payload: 'ON' })
  await ok(server.client, 'mqtt_publish_message', { topic: 'sandbox/a/b' })
})

test('a bad setting stops start-up with a message naming it', async (t) => {
  const child = spawn(process.execPath, [mainPath], { env: { PATH: process.env['PATH'] ?? '', MQTT_MCP_MAX_SESSIONS: 'many' }, stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.is(code, 2)
  t.regex(stderr, /MQTT_MCP_MAX_SESSIONS/)
  t.is(stdout, '', 'stdout stays clean for the protocol')
})

for (const [how, act] of [
  ['stdin EOF', (c: ReturnType<typeof spawn>) => c.stdin?.end()],
  ['SIGTERM', (c: ReturnType<typeof spawn>) => c.kill('SIGTERM')],
] as const) {
  // serial: ava runs these before the concurrent tests, so the 2 s bound is not measured on a loaded machine
  test.serial(`${how} closes every session and exits within 2 s`, async (t) => {
    const seen: string[] = []
    const child = spawn(process.execPath, [mainPath], { env: { PATH: process.env['PATH'] ?? '', MQTT_URL: broker.url, MQTT_MCP_HTTP: 'false' }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const send = (msg: object): void => void child.stdin.write(JSON.stringify(msg) + '\n')
    child.stdout.on('data', (c: Buffer) => seen.push(...c.toString().split('\n').filter(Boolean)))
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })
    send({ jsonrpc: '2.0', method: 'notifications/initialized' })
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'mqtt_publish_message', arguments: { topic: 'bye/x' } } })
    const deadline = Date.now() + 30_000
    while (!seen.some((l) => l.includes('"id":2')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    t.true(seen.some((l) => l.includes('"published":true')), 'the default session was open')
    const start = Date.now()
    act(child)
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    t.true(Date.now() - start < 2000, `exited after ${Date.now() - start} ms`)
    t.is(code, 0)
    t.regex(stderr, /shutting down/)
    for (const line of seen) t.notThrows(() => JSON.parse(line), 'stdout carries only JSON-RPC')
  })
}
