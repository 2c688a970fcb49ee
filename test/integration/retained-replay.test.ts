/** A window that joins a filter another window holds still gets the broker's retained messages. */
import test from 'ava'
import mqtt from 'mqtt'
import { startAedes } from '../helpers/brokers.js'
import { ok, startInProcess } from '../helpers/mcp.js'

test('discovery during a running collect on # still sees the retained topics', async (t) => {
  const broker = await startAedes()
  t.teardown(() => broker.close())
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
  t.teardown(() => publisher.endAsync(true))
  for (let i = 0; i < 20; i++) await publisher.publishAsync(`replay/dev${i}/state`, 'online', { retain: true, qos: 1 })
  const server = await startInProcess({ MQTT_URL: broker.url })
  t.teardown(() => server.close())
  await ok(server.client, 'mqtt_list_active_connections')
  const collecting = ok<{ statistics: { total_received: number } }>(server.client, 'mqtt_subscribe_and_collect', { topic: '#', duration_seconds: 4, max_messages: 500 })
  await new Promise((r) => setTimeout(r, 1000))
  const found = await ok<{ topic_count: number; retained_count: number }>(server.client, 'mqtt_list_topics', { pattern: '#', duration_seconds: 1 })
  t.is(found.retained_count, 20)
  t.is(found.topic_count, 20)
  const collected = await collecting
  // the collect saw the first replay and the second, both flagged retained
  t.true(collected.statistics.total_received >= 20)
})
