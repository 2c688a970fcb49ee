/** The JSON API through inject against a real app and aedes: shapes (checked against the declared schemas), 404s, tool calls. */
import test from 'ava'
import { Ajv } from 'ajv'
import { errorSchema, healthSchema, sessionDetailSchema, sessionsSchema, statusSchema, toolCallsSchema } from '../../src/http/schemas.js'
import { VERSION } from '../../src/version.js'
import { ok } from '../helpers/mcp.js'
import { eventually, harness } from './harness.js'

const ajv = new Ajv({ allErrors: true, strict: false })

/** Asserts `value` matches `schema`, showing ajv's errors otherwise. */
function conforms(t: { true(v: boolean, msg?: string): void }, schema: object, value: unknown): void {
  const validate = ajv.compile(schema)
  t.true(validate(value), JSON.stringify(validate.errors))
}

const CANARY = 'canary-Pa55w0rd-7f3e'

test('/health answers ok with the version and uptime', async (t) => {
  const h = await harness(t)
  const r = await h.inject('/health')
  t.is(r.statusCode, 200)
  t.regex(String(r.headers['content-type']), /^application\/json/)
  const body = r.json<{ status: string; version: string; uptime_seconds: number }>()
  t.is(body.status, 'ok')
  t.is(body.version, VERSION)
  t.true(Number.isInteger(body.uptime_seconds) && body.uptime_seconds >= 0)
  conforms(t, healthSchema, body)
})

test('/api/status reports sessions by state, tool calls, messages, memory and feed clients', async (t) => {
  const h = await harness(t)
  const before = await h.json('/api/status')
  conforms(t, statusSchema, before)
  t.deepEqual(before['sessions'], { total: 0, by_state: { connecting: 0, connected: 0, reconnecting: 0, closed: 0 } })
  t.deepEqual(before['tool_calls'], { total: 0, errors: 0, by_tool: {} })
  t.deepEqual(before['feed'], { clients: 0, dropped_clients: 0 })

  await h.openSession()
  await ok(h.mcp.client, 'mqtt_list_active_connections')
  const after = await h.json<{
    sessions: { total: number; by_state: Record<string, number> }
    tool_calls: { total: number; errors: number; by_tool: Record<string, { calls: number; errors: number }> }
    memory: { rss_bytes: number; heap_used_bytes: number }
    messages: { received_total: number; per_second: number }
  }>('/api/status')
  conforms(t, statusSchema, after)
  t.is(after.sessions.total, 1)
  t.is(after.sessions.by_state['connected'], 1)
  t.is(after.tool_calls.total, 2)
  t.deepEqual(after.tool_calls.by_tool['mqtt_establish_connection'], { calls: 1, errors: 0 })
  t.true(after.memory.rss_bytes > 0 && after.memory.heap_used_bytes > 0)
  t.is(after.messages.received_total, 0)
})

test('/api/sessions lists the sessions like mqtt_list_active_connections, without the password', async (t) => {
  const h = await harness(t)
  const id = await h.openSession({ username: 'alice', password: CANARY })
  const r = await h.inject('/api/sessions')
  t.is(r.statusCode, 200)
  const body = r.json<{ sessions: Array<Record<string, unknown>>; max_sessions: number }>()
  conforms(t, sessionsSchema, body)
  t.is(body.max_sessions, 5)
  t.is(body.sessions.length, 1)
  t.is(body.sessions[0]!['session_id'], id)
  t.is(body.sessions[0]!['state'], 'connected')
  const tool = await ok<{ sessions: unknown[] }>(h.mcp.client, 'mqtt_list_active_connections')
  t.deepEqual(Object.keys(body.sessions[0]!).sort(), Object.keys(tool.sessions[0] as object).sort())
  t.false(r.body.includes(CANARY))
})

test('/api/sessions/:id gives the session and the topic tree of what it received', async (t) => {
  const h = await harness(t)
  const id = await h.openSession()
  // a collection window makes the session receive something
  const pub = await h.publisher()
  const collecting = ok(h.mcp.client, 'mqtt_subscribe_and_collect', { session_id: id, topics: ['plant/#'], duration_seconds: 2, max_messages: 3 })
  await eventually('the window subscription', async () => {
    const s = await h.json<{ sessions: Array<{ subscriptions: Array<{ filter: string; granted: number | null }> }> }>('/api/sessions')
    return s.sessions[0]?.subscriptions.some((x) => x.filter === 'plant/#' && x.granted !== null) === true ? true : undefined
  })
  await pub.publishAsync('plant/line1/temp', '{"c": 21.5}')
  await pub.publishAsync('plant/line2/state', 'RUN')
  await collecting
  const body = await h.json<{ session: { session_id: string }; topics: { topic_count: number; tree: Array<{ name: string }> } }>(`/api/sessions/${id}`)
  conforms(t, sessionDetailSchema, body)
  t.is(body.session.session_id, id)
  t.is(body.topics.topic_count, 2)
  t.is(body.topics.tree[0]?.name, 'plant')
})

test('/api/sessions/:id answers 404 SESSION_NOT_FOUND for an unknown id', async (t) => {
  const h = await harness(t)
  const r = await h.inject('/api/sessions/no-such-session')
  t.is(r.statusCode, 404)
  const body = r.json<{ error: { code: string; message: string } }>()
  conforms(t, errorSchema, body)
  t.is(body.error.code, 'SESSION_NOT_FOUND')
  t.regex(body.error.message, /no-such-session/)
})

test('/api/tool-calls lists calls newest last with redacted arguments', async (t) => {
  const h = await harness(t)
  await h.openSession({ username: 'alice', password: CANARY })
  await ok(h.mcp.client, 'mqtt_list_active_connections')
  const r = await h.inject('/api/tool-calls')
  t.is(r.statusCode, 200)
  const body = r.json<{ calls: Array<{ tool: string; outcome: string; args: Record<string, unknown>; duration_ms: number | null }> }>()
  conforms(t, toolCallsSchema, body)
  t.deepEqual(body.calls.map((c) => c.tool), ['mqtt_establish_connection', 'mqtt_list_active_connections'])
  t.is(body.calls[0]!.outcome, 'ok')
  t.is(body.calls[0]!.args['password'], '***')
  t.is(body.calls[0]!.args['username'], 'alice')
  t.false(r.body.includes(CANARY))

  const limited = await h.json<{ calls: Array<{ tool: string }> }>('/api/tool-calls?limit=1')
  t.deepEqual(limited.calls.map((c) => c.tool), ['mqtt_list_active_connections'])
})

test('/api/tool-calls refuses a bad limit with 400 INVALID_INPUT', async (t) => {
  const h = await harness(t)
  for (const limit of ['0', '201', 'many']) {
    const r = await h.inject(`/api/tool-calls?limit=${limit}`)
    t.is(r.statusCode, 400, limit)
    t.is(r.json<{ error: { code: string } }>().error.code, 'INVALID_INPUT')
  }
})

test('an unknown route answers 404 as JSON', async (t) => {
  const h = await harness(t)
  const r = await h.inject('/api/nothing')
  t.is(r.statusCode, 404)
  t.is(r.json<{ error: { code: string } }>().error.code, 'NOT_FOUND')
})
