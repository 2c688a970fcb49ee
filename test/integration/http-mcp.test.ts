/**
 * MCP over Streamable HTTP at /mcp: SDK clients over HTTP beside a stdio client, each seeing and closing only
 * its own MQTT sessions; resources with live updates over the GET stream; the guard of the status server.
 */
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import test, { type ExecutionContext } from 'ava'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import mqtt from 'mqtt'
import { startAedes, type TestBroker } from '../helpers/brokers.js'
import { fails, mainPath, ok, startStdioServer } from '../helpers/mcp.js'
import { topicUri } from '../../src/mcp/resources.js'

let broker: TestBroker
test.before(async () => {
  broker = await startAedes()
})
test.after.always(() => broker.close())

/** Spawns the server without a stdio client (--transport http): only its stderr is read. */
async function spawnHttpOnly(t: ExecutionContext, args: string[], env: Record<string, string> = {}): Promise<{ stderr(): string }> {
  const child = spawn(process.execPath, [mainPath, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'], cwd: tmpdir() })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  t.teardown(() => {
    child.kill('SIGTERM')
  })
  return { stderr: () => stderr }
}

/** Waits for the "status page on <url>" log line and returns the URL. */
async function pageUrl(server: { stderr(): string }): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const line = server.stderr().split('\n').find((l) => l.includes('status page on'))
    if (line !== undefined) return (JSON.parse(line) as { url: string }).url
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`no status page URL in the log:\n${server.stderr()}`)
}

async function httpClient(t: ExecutionContext, base: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'http-client', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', base), { requestInit: { headers } }))
  t.teardown(() => client.close())
  return client
}

type Sessions = { sessions: Array<{ session_id: string; name: string | null }> }

test('two HTTP clients and a stdio client each see and close only their own MQTT sessions', async (t) => {
  const server = await startStdioServer(['--transport', 'both', '--http-port', '0'])
  t.teardown(() => server.close())
  const base = await pageUrl(server)
  const alice = await httpClient(t, base)
  const bob = await httpClient(t, base)

  const a = await ok<{ session_id: string }>(alice, 'mqtt_establish_connection', { connection_string: broker.url, name: 'alice' })
  const b = await ok<{ session_id: string }>(bob, 'mqtt_establish_connection', { connection_string: broker.url, name: 'bob' })
  const s = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: broker.url, name: 'stdio' })

  t.deepEqual((await ok<Sessions>(alice, 'mqtt_list_active_connections')).sessions.map((x) => x.name), ['alice'])
  t.deepEqual((await ok<Sessions>(bob, 'mqtt_list_active_connections')).sessions.map((x) => x.name), ['bob'])
  t.deepEqual((await ok<Sessions>(server.client, 'mqtt_list_active_connections')).sessions.map((x) => x.name), ['stdio'])

  // another client's session answers like a missing one
  t.is((await fails(bob, 'mqtt_close_connection', { session_id: a.session_id })).code, 'SESSION_NOT_FOUND')
  t.is((await fails(bob, 'mqtt_publish_message', { session_id: s.session_id, topic: 'x/y' })).code, 'SESSION_NOT_FOUND')
  await ok(alice, 'mqtt_publish_message', { topic: 'alice/only' })

  // the status page sees everything
  const all = (await (await fetch(new URL('/api/sessions', base))).json()) as Sessions
  t.deepEqual(all.sessions.map((x) => x.name).sort(), ['alice', 'bob', 'stdio'])

  // ending bob's MCP session (DELETE) closes the MQTT sessions he opened
  await (bob.transport as StreamableHTTPClientTransport).terminateSession()
  const gone = Date.now()
  const listAll = async (): Promise<Sessions> => (await (await fetch(new URL('/api/sessions', base))).json()) as Sessions
  let left = await listAll()
  while (left.sessions.some((x) => x.session_id === b.session_id) && Date.now() - gone < 3000) {
    await new Promise((r) => setTimeout(r, 50))
    left = await listAll()
  }
  t.deepEqual(left.sessions.map((x) => x.name).sort(), ['alice', 'stdio'])
  await ok(alice, 'mqtt_close_connection', { session_id: a.session_id })
  t.deepEqual((await ok<Sessions>(server.client, 'mqtt_list_active_connections')).sessions.map((x) => x.session_id), [s.session_id])
})

test('a topic resource subscribed over HTTP is updated through the GET stream', async (t) => {
  const server = await spawnHttpOnly(t, ['--transport', 'http', '--http-port', '0'], { MQTT_URL: broker.url })
  const base = await pageUrl(server)
  const client = await httpClient(t, base)
  t.true((await client.listTools()).tools.length >= 10)
  await ok(client, 'mqtt_publish_message', { topic: 'http/hello' })
  const { sessions } = await ok<Sessions>(client, 'mqtt_list_active_connections')
  const uri = topicUri(sessions[0]!.session_id, 'http/temp')
  let updates = 0
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
    updates++
  })
  await client.subscribeResource({ uri })
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
  t.teardown(() => publisher.endAsync(true))
  await new Promise((r) => setTimeout(r, 300))
  const sent = Date.now()
  await publisher.publishAsync('http/temp', '{"c":19.5}', { qos: 1 })
  while (updates === 0 && Date.now() - sent < 2000) await new Promise((r) => setTimeout(r, 20))
  t.true(updates >= 1, 'resources/updated within 2 s')
  const read = await client.readResource({ uri })
  const first = read.contents[0]
  t.like(JSON.parse(first !== undefined && 'text' in first ? first.text : '{}'), { topic: 'http/temp', payload: { c: 19.5 } })
  const { resources } = await client.listResources()
  t.true(resources.some((r) => r.uri === 'mqtt://sessions'))
  t.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ['explore_broker', 'debug_device'])
  await client.unsubscribeResource({ uri })
  const after = await ok<{ sessions: Array<{ subscriptions: unknown[] }> }>(client, 'mqtt_list_active_connections')
  t.deepEqual(after.sessions[0]?.subscriptions, [])
})

test('/mcp refuses a foreign Origin, an unknown session and, beyond loopback, a missing token', async (t) => {
  const token = 'http-token-5d2a'
  const server = await spawnHttpOnly(t, ['--transport', 'http', '--http-host', '0.0.0.0', '--http-port', '0'], { MQTT_MCP_HTTP_TOKEN: token })
  const base = (await pageUrl(server)).replace('0.0.0.0', '127.0.0.1')
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
  const post = (headers: Record<string, string>, body: unknown = init) =>
    fetch(new URL('/mcp', base), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) })
  t.is((await post({})).status, 401)
  t.is((await post({ authorization: 'Bearer wrong' })).status, 401)
  t.is((await post({ authorization: `Bearer ${token}`, origin: 'http://evil.example' })).status, 403)
  t.is((await post({ authorization: `Bearer ${token}`, 'mcp-session-id': 'no-such-session' })).status, 404)
  t.is((await post({ authorization: `Bearer ${token}` }, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).status, 400)
  const good = await post({ authorization: `Bearer ${token}` })
  t.is(good.status, 200)
  t.truthy(good.headers.get('mcp-session-id'))
  const client = await httpClient(t, base, { authorization: `Bearer ${token}` })
  t.true((await client.listTools()).tools.length >= 10)
  t.false(server.stderr().includes(token), 'the token is never logged')
})

test('an HTTP MCP session that goes quiet without DELETE is closed after the idle time', async (t) => {
  const server = await spawnHttpOnly(t, ['--transport', 'http', '--http-port', '0'], { MQTT_MCP_SESSION_TTL_SECONDS: '1' })
  const base = await pageUrl(server)
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'one-shot', version: '1' } } }
  const first = await fetch(new URL('/mcp', base), { method: 'POST', headers, body: JSON.stringify(init) })
  const id = first.headers.get('mcp-session-id') ?? ''
  t.truthy(id)
  await first.text()
  const ping = () => fetch(new URL('/mcp', base), { method: 'POST', headers: { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) })
  t.is((await ping()).status, 200)
  await new Promise((r) => setTimeout(r, 3000))
  t.is((await ping()).status, 404, 'the quiet session is gone')
})
