/**
 * mqtt_broker_stats end to end through the SDK Client: Mosquitto (sys_interval 1) and aedes, bare and with the
 * figures aedes-stats publishes. Brokers without $SYS (EMQX, HiveMQ, none) are covered by the pure mapper's tests.
 */
import { execFileSync } from 'node:child_process'
import test from 'ava'
import { startEmbeddedBroker } from '../../src/demo/broker.js'
import { brokerStats } from '../../src/tools/broker-stats.js'
import { tools } from '../../src/tools/index.js'
import type { Tool } from '../../src/tools/tool.js'
import { mosquittoPath, startAedes, startMosquitto } from '../helpers/brokers.js'
import { ok, startInProcess } from '../helpers/mcp.js'
import { witness } from '../helpers/subscriber.js'

interface Stats {
  broker: string
  version: string | null
  uptime_seconds: number | null
  clients_connected: number | null
  messages_received_per_second: number | null
  subscriptions: number | null
  retained_messages: number | null
  sys_topics: number
  raw: Array<{ topic: string; value: string; retained: boolean }>
  stopped_by: string
  notes: string[]
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/** The registered tools plus ours, once each (index.ts may list it already). */
const served: readonly Tool[] = [...new Map([...tools, brokerStats].map((x) => [x.name, x])).values()]

/** "2.0.11" from `mosquitto -h`, which prints "mosquitto version 2.0.11" and exits 3. */
function mosquittoVersion(binary: string): string {
  let out: string
  try {
    out = execFileSync(binary, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? '')
  }
  return /mosquitto version (\S+)/.exec(out)?.[1] ?? ''
}

const binary = mosquittoPath()
const mosquittoTest = binary === undefined ? test.skip : test

mosquittoTest('mqtt_broker_stats on Mosquitto maps version, uptime and clients from $SYS', async (t) => {
  const b = await startMosquitto({ sysInterval: 1 })
  const server = await startInProcess({ MQTT_URL: b.url }, { tools: served })
  t.teardown(async () => {
    await server.close()
    await b.close()
  })
  const s = await ok<Stats>(server.client, 'mqtt_broker_stats', { duration_seconds: 2 })
  const expected = mosquittoVersion(binary!)
  t.log(`Mosquitto ${expected}: ${s.sys_topics} $SYS topics`)
  t.is(s.broker, 'mosquitto')
  t.truthy(expected)
  t.true(s.version?.startsWith(expected), `version ${s.version}`)
  t.true((s.clients_connected ?? 0) >= 1, `clients_connected ${s.clients_connected}`)
  t.is(typeof s.uptime_seconds, 'number')
  t.true(s.uptime_seconds! >= 0)
  t.is(typeof s.subscriptions, 'number')
  t.is(typeof s.retained_messages, 'number')
  t.is(typeof s.messages_received_per_second, 'number')
  t.true(s.raw.some((r) => r.topic === '$SYS/broker/version'))
  t.is(s.stopped_by, 'duration')
})

test('mqtt_broker_stats on bare aedes names the broker from its client events and says what it lacks', async (t) => {
  const b = await startAedes()
  const server = await startInProcess({ MQTT_URL: b.url }, { tools: served })
  t.teardown(async () => {
    await server.close()
    await b.close()
  })
  // aedes publishes $SYS/<id>/new/clients when a client connects: connect one during the window
  const pending = ok<Stats>(server.client, 'mqtt_broker_stats', { duration_seconds: 3 })
  // the window is open once the session holds a granted $SYS/# subscription
  for (let i = 0; i < 100; i++) {
    const listed = await ok<{ sessions: Array<{ subscriptions: Array<{ filter: string; granted: number | null }> }> }>(server.client, 'mqtt_list_active_connections')
    if (listed.sessions.some((x) => x.subscriptions.some((f) => f.filter === '$SYS/#' && f.granted !== null))) break
    await sleep(20)
  }
  const other = await witness(b.url, 'nothing/here')
  t.teardown(() => other.close())
  const s = await pending
  t.is(s.broker, 'aedes')
  t.is(s.version, null)
  t.is(s.uptime_seconds, null)
  t.true(s.raw.some((r) => /^\$SYS\/[^/]+\/new\/clients$/.test(r.topic)))
  t.true(s.notes.some((n) => /aedes-stats/.test(n)))
})

test('mqtt_broker_stats on aedes maps the figures aedes-stats publishes (uptime, clients)', async (t) => {
  const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0 })
  const server = await startInProcess({ MQTT_URL: broker.url }, { tools: served })
  t.teardown(async () => {
    await server.close()
    await broker.close()
  })
  // what the aedes-stats plugin does every second: retained PUBLISHes from the broker itself
  const started = Date.now()
  let connected = 0
  broker.aedes.on('client', () => connected++)
  const tick = (): void => {
    const pub = (name: string, value: string | number): void => broker.aedes.publish({ cmd: 'publish', topic: `$SYS/${broker.aedes.id}/${name}`, payload: Buffer.from(String(value)), qos: 0, retain: true, dup: false }, () => undefined)
    pub('uptime', Math.round((Date.now() - started) / 1000) + 100)
    pub('clients/total', connected)
  }
  const timer = setInterval(tick, 300)
  t.teardown(() => clearInterval(timer))
  const s = await ok<Stats>(server.client, 'mqtt_broker_stats', { duration_seconds: 1 })
  t.is(s.broker, 'aedes')
  t.true((s.uptime_seconds ?? 0) >= 100)
  t.true((s.clients_connected ?? 0) >= 1)
  t.false(s.notes.some((n) => /need the aedes-stats plugin/.test(n)))
})
