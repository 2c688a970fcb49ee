/**
 * MCP beyond tools over real stdio: resources (list, read, templates), a subscribed topic resource that
 * follows the broker and releases its subscription, and the prompts.
 */
import test from 'ava'
import { ResourceUpdatedNotificationSchema, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js'
import mqtt from 'mqtt'
import { startAedes, type TestBroker } from '../helpers/brokers.js'
import { ok, startStdioServer } from '../helpers/mcp.js'
import { parseResourceUri, topicUri } from '../../src/mcp/resources.js'

let broker: TestBroker
test.before(async () => {
  broker = await startAedes()
})
test.after.always(() => broker.close())

const body = (r: ReadResourceResult): Record<string, unknown> => {
  const first = r.contents[0]
  return JSON.parse(first !== undefined && 'text' in first ? first.text : '{}') as Record<string, unknown>
}

test('resource URIs round-trip with percent-encoded levels and never decode into wildcards', (t) => {
  const uri = topicUri('s-1', 'home/living room/temp%')
  t.is(uri, 'mqtt://sessions/s-1/topics/home/living%20room/temp%25')
  t.deepEqual(parseResourceUri(uri), { kind: 'topic', sessionId: 's-1', topic: 'home/living room/temp%' })
  t.deepEqual(parseResourceUri('mqtt://sessions/s-1/topics/a/%23'), { kind: 'topic', sessionId: 's-1', topic: 'a/#' })
  t.deepEqual(parseResourceUri('mqtt://sessions/s-1/topics'), { kind: 'topics', sessionId: 's-1' })
  t.is(parseResourceUri('mqtt://elsewhere'), undefined)
  t.is(parseResourceUri('mqtt://sessions/s-1/topics/%E0%A4%A'), undefined)
})

test('a subscribed topic resource is told of new messages and unsubscribing releases the broker subscription', async (t) => {
  const server = await startStdioServer([], { MQTT_URL: broker.url })
  t.teardown(() => server.close())
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
  t.teardown(() => publisher.endAsync(true))
  await publisher.publishAsync('home/kitchen/temp', '20.5', { retain: true, qos: 1 })

  const { session_id } = await ok<{ session_id: string }>(server.client, 'mqtt_publish_message', { topic: 'home/hello', payload: 'x' }).then(async () => {
    const l = await ok<{ sessions: Array<{ session_id: string }> }>(server.client, 'mqtt_list_active_connections')
    return l.sessions[0]!
  })

  const listed = await server.client.listResources()
  t.true(listed.resources.some((r) => r.uri === 'mqtt://sessions'))
  t.true(listed.resources.some((r) => r.uri === `mqtt://sessions/${session_id}/topics`))
  const templates = await server.client.listResourceTemplates()
  t.deepEqual(templates.resourceTemplates.map((x) => x.uriTemplate).sort(), ['mqtt://sessions/{session_id}/topics', 'mqtt://sessions/{session_id}/topics/{+topic}'])
  const sessions = body(await server.client.readResource({ uri: 'mqtt://sessions' }))
  t.is((sessions['sessions'] as unknown[]).length, 1)

  const uri = topicUri(session_id, 'home/kitchen/temp')
  const updates: string[] = []
  server.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updates.push(n.params.uri)
  })
  await server.client.subscribeResource({ uri })
  // the retained value arrives on subscribe and is told once
  const waitFor = async (n: number, ms: number): Promise<void> => {
    const end = Date.now() + ms
    while (updates.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  }
  await waitFor(1, 2000)
  t.true(updates.length >= 1, 'told of the retained value')
  const retained = body(await server.client.readResource({ uri }))
  t.like(retained, { topic: 'home/kitchen/temp', payload: 20.5, encoding: 'json', retain: true })

  const before = updates.length
  await new Promise((r) => setTimeout(r, 1100))
  const sent = Date.now()
  await publisher.publishAsync('home/kitchen/temp', '21.25', { qos: 1 })
  await waitFor(before + 1, 2000)
  t.true(updates.length > before, 'told of the new message')
  t.true(Date.now() - sent < 2000)
  t.like(body(await server.client.readResource({ uri })), { payload: 21.25, retain: false })

  const active = await ok<{ sessions: Array<{ subscriptions: Array<{ filter: string }> }> }>(server.client, 'mqtt_list_active_connections')
  t.deepEqual(active.sessions[0]?.subscriptions.map((s) => s.filter), ['home/kitchen/temp'])

  await server.client.unsubscribeResource({ uri })
  const after = await ok<{ sessions: Array<{ subscriptions: unknown[] }> }>(server.client, 'mqtt_list_active_connections')
  t.deepEqual(after.sessions[0]?.subscriptions, [], 'the broker subscription is released')
  const count = updates.length
  await publisher.publishAsync('home/kitchen/temp', '22', { qos: 1 })
  await new Promise((r) => setTimeout(r, 1200))
  t.is(updates.length, count, 'no updates after unsubscribe')

  const tree = body(await server.client.readResource({ uri: `mqtt://sessions/${session_id}/topics` }))
  t.true((tree['topic_count'] as number) >= 1)
})

test('updates of a busy topic are told at most once a second', async (t) => {
  const server = await startStdioServer([], { MQTT_URL: broker.url })
  t.teardown(() => server.close())
  await ok(server.client, 'mqtt_publish_message', { topic: 'busy/hello' })
  const l = await ok<{ sessions: Array<{ session_id: string }> }>(server.client, 'mqtt_list_active_connections')
  const uri = topicUri(l.sessions[0]!.session_id, 'busy/counter')
  let updates = 0
  server.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
    updates++
  })
  await server.client.subscribeResource({ uri })
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
  t.teardown(() => publisher.endAsync(true))
  const start = Date.now()
  for (let i = 0; i < 100; i++) {
    publisher.publish('busy/counter', String(i))
    await new Promise((r) => setTimeout(r, 20))
  }
  await new Promise((r) => setTimeout(r, 1200))
  const seconds = (Date.now() - start) / 1000
  t.true(updates >= 2, `${updates} updates`)
  t.true(updates <= Math.ceil(seconds) + 1, `${updates} updates in ${seconds.toFixed(1)} s`)
  t.like(body(await server.client.readResource({ uri })), { payload: 99 })
})

test('prompts list and get with the arguments a user would type', async (t) => {
  const server = await startStdioServer()
  t.teardown(() => server.close())
  const { prompts } = await server.client.listPrompts()
  t.deepEqual(prompts.map((p) => p.name), ['explore_broker', 'debug_device'])
  t.true(prompts[1]?.arguments?.some((a) => a.name === 'device_id' && a.required === true))
  const explore = await server.client.getPrompt({ name: 'explore_broker', arguments: { connection_string: 'mqtt://broker.local:1883', focus: 'zigbee2mqtt/#' } })
  const text = (explore.messages[0]?.content as { text: string }).text
  t.regex(text, /mqtt_establish_connection/)
  t.regex(text, /mqtt_list_topics/)
  t.regex(text, /mqtt:\/\/broker\.local:1883/)
  const debug = await server.client.getPrompt({ name: 'debug_device', arguments: { device_id: 'tasmota_pool_pump' } })
  t.regex((debug.messages[0]?.content as { text: string }).text, /mqtt_debug_device with device_id "tasmota_pool_pump"/)
  await t.throwsAsync(server.client.getPrompt({ name: 'debug_device', arguments: {} }), { message: /device_id/ })
})
