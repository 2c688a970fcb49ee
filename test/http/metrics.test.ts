/**
 * /metrics through inject against a real app and aedes: Prometheus text that parses, counters that move when
 * tools are called and messages arrive, labels without secrets or topics, one registry per app.
 */
import test from 'ava'
import { buildApp } from '../../src/http/app.js'
import { silentLogger } from '../../src/log.js'
import { VERSION } from '../../src/version.js'
import { fails, ok, startInProcess } from '../helpers/mcp.js'
import { eventually, harness, HOST_HEADER, openFeed, PORT } from './harness.js'
import { parsePrometheus, parseValue, valueOf, type Exposition, type MetricType } from './prometheus.js'

const CANARY = 'canary-Pa55w0rd-91c4'
const TOPIC_CANARY = 'topic-canary-5e2a'

/** GET /metrics through `h` and parse it. */
const scrape = async (h: { inject: (url: string) => Promise<{ statusCode: number; body: string }> }): Promise<{ text: string; metrics: Exposition }> => {
  const r = await h.inject('/metrics')
  if (r.statusCode !== 200) throw new Error(`/metrics: ${r.statusCode} ${r.body}`)
  return { text: r.body, metrics: parsePrometheus(r.body) }
}

test('the Prometheus reader › takes the format and refuses what is not', (t) => {
  const e = parsePrometheus('# HELP a_total A.\n# TYPE a_total counter\na_total{x="1",y="q\\"uote"} 3\n\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n')
  t.is(valueOf(e, 'a_total', { y: 'q"uote' }), 3)
  t.is(valueOf(e, 'h_count'), 2)
  t.is(e.types.get('h'), 'histogram')
  t.true(Number.isNaN(parseValue('NaN')) && Number.isNaN(parseValue('Nan')))
  t.deepEqual(['+Inf', '-Inf', '1e-7', '.5', '-3'].map(parseValue), [Infinity, -Infinity, 1e-7, 0.5, -3])
  for (const bad of ['x 1', '# TYPE x counter\nx one', '# TYPE x counter\nx{a=1} 1', '# TYPE x counter\nx 1\nx 2', '# TYPE x nonsense', '# TYPE x counter\nx{a="1" 1']) {
    t.throws(() => parsePrometheus(bad), undefined, bad)
  }
})

test('/metrics › is Prometheus text with the server\'s metrics and the process\'s', async (t) => {
  const h = await harness(t)
  const r = await h.inject('/metrics')
  t.is(r.statusCode, 200)
  t.regex(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  const m = parsePrometheus(r.body)
  const expected: Record<string, MetricType> = {
    mqtt_mcp_sessions: 'gauge',
    mqtt_mcp_reconnects_total: 'counter',
    mqtt_mcp_messages_received_total: 'counter',
    mqtt_mcp_session_messages_received_total: 'counter',
    mqtt_mcp_session_received_bytes_total: 'counter',
    mqtt_mcp_tool_calls_total: 'counter',
    mqtt_mcp_tool_call_duration_seconds: 'histogram',
    mqtt_mcp_windows_open: 'gauge',
    mqtt_mcp_broker_subscriptions: 'gauge',
    mqtt_mcp_feed_clients: 'gauge',
    mqtt_mcp_feed_dropped_clients_total: 'counter',
    nodejs_eventloop_lag_seconds: 'gauge',
    nodejs_eventloop_lag_p99_seconds: 'gauge',
    nodejs_heap_size_used_bytes: 'gauge',
    process_resident_memory_bytes: 'gauge',
  }
  for (const [name, type] of Object.entries(expected)) {
    t.is(m.types.get(name), type, name)
    t.truthy(m.help.get(name), `${name} has help`)
  }
  for (const state of ['connecting', 'connected', 'reconnecting', 'closed']) t.is(valueOf(m, 'mqtt_mcp_sessions', { state }), 0, state)
  t.is(valueOf(m, 'mqtt_mcp_windows_open'), 0)
  t.true(valueOf(m, 'process_resident_memory_bytes')! > 0)
})

test('/metrics › counters move when tools are called and messages arrive; no password, URL or topic in any label', async (t) => {
  const h = await harness(t)
  const before = (await scrape(h)).metrics
  t.is(valueOf(before, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_establish_connection' }), undefined)

  const id = await h.openSession({ connection_string: `mqtt://alice:${CANARY}@127.0.0.1:${h.broker.port}`, name: 'line-1' })
  const session = { session: id.slice(0, 8), name: 'line-1' }
  const pub = await h.publisher()
  const collecting = ok<{ messages: unknown[] }>(h.mcp.client, 'mqtt_subscribe_and_collect', { session_id: id, topics: ['plant/#'], duration_seconds: 10, max_messages: 3 })
  // while the window is open it holds the session, and the broker holds its subscription
  const during = await eventually('the window in /metrics', async () => {
    const { metrics } = await scrape(h)
    return valueOf(metrics, 'mqtt_mcp_broker_subscriptions')! >= 1 ? metrics : undefined
  })
  t.true(valueOf(during, 'mqtt_mcp_windows_open')! >= 1)
  const payloads = ['{"c": 21.5}', 'RUN', '42']
  for (const p of payloads) await pub.publishAsync(`plant/${TOPIC_CANARY}`, p)
  t.is((await collecting).messages.length, 3)
  await fails(h.mcp.client, 'mqtt_close_connection', { session_id: 'no-such-session' })

  const { text, metrics: after } = await scrape(h)
  t.is(valueOf(after, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_establish_connection', outcome: 'ok' }), 1)
  t.is(valueOf(after, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_subscribe_and_collect', outcome: 'ok' }), 1)
  t.is(valueOf(after, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_close_connection', outcome: 'error' }), 1)
  t.is(valueOf(after, 'mqtt_mcp_tool_call_duration_seconds_count', { tool: 'mqtt_subscribe_and_collect' }), 1)
  t.true(valueOf(after, 'mqtt_mcp_tool_call_duration_seconds_sum', { tool: 'mqtt_subscribe_and_collect' })! > 0)
  t.is(valueOf(after, 'mqtt_mcp_tool_call_duration_seconds_bucket', { tool: 'mqtt_subscribe_and_collect', le: '+Inf' }), 1)
  t.is(valueOf(after, 'mqtt_mcp_session_messages_received_total', session), 3)
  t.is(valueOf(after, 'mqtt_mcp_session_received_bytes_total', session), payloads.reduce((n, p) => n + Buffer.byteLength(p), 0))
  t.is(valueOf(after, 'mqtt_mcp_messages_received_total'), 3)
  t.is(valueOf(after, 'mqtt_mcp_sessions', { state: 'connected' }), 1)
  t.is(valueOf(after, 'mqtt_mcp_reconnects_total'), 0)
  await eventually('the window to let go of the session', async () => (valueOf((await scrape(h)).metrics, 'mqtt_mcp_windows_open') === 0 ? true : undefined))

  for (const secret of [CANARY, TOPIC_CANARY, 'plant/', `127.0.0.1:${h.broker.port}`, 'alice', id]) t.false(text.includes(secret), secret)
  const labelNames = new Set(after.samples.filter((s) => s.name.startsWith('mqtt_mcp_')).flatMap((s) => Object.keys(s.labels)))
  t.deepEqual([...labelNames].sort(), ['le', 'name', 'outcome', 'session', 'state', 'tool'])
})

test('/metrics › counts live feed clients as they come and go', async (t) => {
  const h = await harness(t)
  const { socket, log } = await openFeed(h)
  await log.next((f) => f.type === 'hello')
  t.is(valueOf((await scrape(h)).metrics, 'mqtt_mcp_feed_clients'), 1)
  socket.terminate()
  await eventually('the client to be gone', async () => (valueOf((await scrape(h)).metrics, 'mqtt_mcp_feed_clients') === 0 ? true : undefined))
  t.is(valueOf((await scrape(h)).metrics, 'mqtt_mcp_feed_dropped_clients_total'), 0)
})

test('/metrics › counts the calls made before the HTTP app was built, once', async (t) => {
  const mcp = await startInProcess()
  t.teardown(() => mcp.close())
  await ok(mcp.client, 'mqtt_list_active_connections')
  const http = buildApp({ app: mcp.app, logger: silentLogger, version: VERSION, host: '127.0.0.1', port: PORT, allowedHosts: [] })
  t.teardown(() => http.close())
  const inject = (url: string) => http.inject({ url, headers: { host: HOST_HEADER } })
  t.is(valueOf((await scrape({ inject })).metrics, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_list_active_connections', outcome: 'ok' }), 1)
  await ok(mcp.client, 'mqtt_list_active_connections')
  t.is(valueOf((await scrape({ inject })).metrics, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_list_active_connections', outcome: 'ok' }), 2)
})

test('/metrics › two apps in one process keep metrics of their own, and closing one ends its subscriptions', async (t) => {
  const a = await harness(t)
  const b = await harness(t)
  await ok(a.mcp.client, 'mqtt_list_active_connections')
  t.is(valueOf((await scrape(a)).metrics, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_list_active_connections' }), 1)
  t.is(valueOf((await scrape(b)).metrics, 'mqtt_mcp_tool_calls_total', { tool: 'mqtt_list_active_connections' }), undefined)
  // both show the process metrics, made once for the process
  t.truthy(valueOf((await scrape(b)).metrics, 'process_resident_memory_bytes'))

  const changes = a.mcp.app.toolCalls.changes$ as unknown as { readonly observed: boolean }
  t.true(changes.observed)
  await a.http.close()
  t.false(changes.observed, 'the metrics no longer follow the tool call log')
})
