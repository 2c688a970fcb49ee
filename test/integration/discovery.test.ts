/**
 * mqtt_list_topics end to end through the SDK Client, against aedes and (when installed) Mosquitto: 10,000
 * retained topics are all found and the tree fits the output budget; max_topics, include_system and depth;
 * and the `--demo` fleet can be discovered and collected over real stdio.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import test from 'ava'
import mqtt, { type MqttClient } from 'mqtt'
import { brokerMatrix } from '../helpers/brokers.js'
import { call, fails, ok, startInProcess, startStdioServer, textOf } from '../helpers/mcp.js'

interface TreeNode {
  name: string
  path: string
  topics: number
  messages: number
  retained: number
  last_seen: string | null
  kind?: string
  sample?: string
  children?: TreeNode[]
  folded?: true
}

interface Listed {
  session_id: string
  pattern: string
  topic_count: number
  message_count: number
  retained_count: number
  stopped_by: string
  truncated: boolean
  folded: boolean
  tree: TreeNode[]
  interruptions: unknown[]
  notes: string[]
}

const DEFAULT_BUDGET = 60_000

async function publisher(url: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `pub-${Math.random().toString(16).slice(2, 10)}` })
}

/** Publishes `topics` retained at QoS 1 in batches, waiting for every PUBACK: the broker has them all stored. */
async function retainAll(pub: MqttClient, topics: readonly string[], payload: (i: number) => string, batch = 500): Promise<void> {
  for (let i = 0; i < topics.length; i += batch) {
    await Promise.all(topics.slice(i, i + batch).map((topic, j) => pub.publishAsync(topic, payload(i + j), { qos: 1, retain: true })))
  }
}

/** Every node of the tree, depth first. */
function nodes(tree: readonly TreeNode[]): TreeNode[] {
  return tree.flatMap((n) => [n, ...nodes(n.children ?? [])])
}

/** The structured result and the length of the text block the model reads. */
async function listTopics(client: Client, args: Record<string, unknown>): Promise<{ r: Listed; chars: number }> {
  const res = await call(client, 'mqtt_list_topics', args)
  if (res.isError === true) throw new Error(`mqtt_list_topics failed: ${textOf(res)}`)
  return { r: res.structuredContent as unknown as Listed, chars: textOf(res).length }
}

const fleet = Array.from({ length: 10_000 }, (_, i) => `fleet/b${String(Math.floor(i / 100)).padStart(2, '0')}/d${String(i % 100).padStart(2, '0')}/state`)

for (const broker of brokerMatrix()) {
  // serial (run before the others, one broker at a time): aedes replays retained messages at ~5,000/s on an idle
  // machine, from this test process, so it needs both the CPU and a longer window than Mosquitto (~0.1 s)
  test.serial(`${broker.name}: 10,000 retained topics are all found, the tree fits the budget; max_topics and depth (stdio)`, async (t) => {
    const replaySeconds = broker.name === 'aedes' ? 8 : 3
    const b = await broker.start()
    const pub = await publisher(b.url)
    const server = await startStdioServer()
    t.teardown(async () => {
      await pub.endAsync(true)
      await server.close()
      await b.close()
    })
    await retainAll(pub, fleet, (i) => JSON.stringify({ on: i % 2 === 0, power: i % 97 }))
    const { session_id } = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: b.url })

    const started = Date.now()
    const { r, chars } = await listTopics(server.client, { session_id, max_topics: 20_000, duration_seconds: replaySeconds })
    t.log(`${broker.name}: ${r.topic_count} topics in ${Date.now() - started} ms`)
    t.is(r.topic_count, 10_000)
    t.is(r.retained_count, 10_000)
    t.is(r.message_count, 0, 'retained replays are not live traffic')
    t.is(r.stopped_by, 'duration')
    t.false(r.truncated)
    t.true(r.folded, 'the tree had to be folded')
    t.true(chars <= DEFAULT_BUDGET, `${chars} chars`)
    t.true(r.notes.some((n) => /folded/.test(n)))
    // the counts of the shown tree add up, folded or not
    t.is(r.tree.reduce((n, x) => n + x.topics, 0), 10_000)
    const root = r.tree.find((n) => n.name === 'fleet')
    t.like(root, { path: 'fleet', topics: 10_000, retained: 10_000 })
    t.true(nodes(r.tree).some((n) => n.folded === true))
    // a replay this large may have been cut by the broker's queue: the answer says so
    t.true(r.notes.some((n) => /max_queued_messages/.test(n)))
    for (const n of nodes(r.tree)) {
      if (n.children !== undefined) t.is(n.children.reduce((s, c) => s + c.topics, 0), n.topics, n.path)
    }

    // max_topics: indexing stops at 500 and says so
    const capped = await listTopics(server.client, { session_id, max_topics: 500, duration_seconds: 1 })
    t.is(capped.r.topic_count, 500)
    t.true(capped.r.truncated)
    t.true(capped.r.notes.some((n) => /max_topics \(500\)/.test(n)))

    // depth 3 below one branch: every node at level 3 folded with its counts, which is asked for, not "folded to fit"
    const shallow = await listTopics(server.client, { session_id, pattern: 'fleet/b42/#', duration_seconds: 1, depth: 3 })
    t.is(shallow.r.topic_count, 100)
    t.false(shallow.r.notes.some((n) => /max_queued_messages/.test(n)))
    const top = shallow.r.tree[0]!
    t.like(top, { name: 'fleet', topics: 100 })
    const b42 = top.children?.[0]
    t.like(b42, { name: 'b42', path: 'fleet/b42', topics: 100, retained: 100 })
    t.is(b42?.children?.length, 100)
    for (const c of b42?.children ?? []) t.like(c, { topics: 1, retained: 1, folded: true })
    t.false(shallow.r.folded)

    // a narrower pattern opens a folded branch completely
    const one = await listTopics(server.client, { session_id, pattern: 'fleet/b42/#', duration_seconds: 1 })
    t.is(one.r.topic_count, 100)
    t.false(one.r.folded)
    const leaves = nodes(one.r.tree).filter((n) => n.kind !== undefined)
    t.is(leaves.length, 100)
    t.true(leaves.every((n) => n.path.startsWith('fleet/b42/') && n.kind === 'json' && typeof n.sample === 'string'))
    t.deepEqual((await ok<{ sessions: Array<{ subscriptions: unknown[] }> }>(server.client, 'mqtt_list_active_connections')).sessions[0]?.subscriptions, [])
  })

  test(`${broker.name}: $SYS topics only with include_system; live traffic is counted apart from retained`, async (t) => {
    const b = await broker.start()
    const pub = await publisher(b.url)
    const server = await startInProcess()
    t.teardown(async () => {
      await pub.endAsync(true)
      await server.close()
      await b.close()
    })
    await pub.publishAsync('home/lamp', 'ON', { qos: 1, retain: true })
    const { session_id } = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: b.url })

    const ticking = setInterval(() => pub.publish('home/sensor', '21.5'), 200)
    t.teardown(() => clearInterval(ticking))
    const plain = await listTopics(server.client, { session_id, duration_seconds: 2 })
    t.false(plain.r.tree.some((n) => n.name.startsWith('$')), '# does not match $SYS topics')
    const home = plain.r.tree.find((n) => n.name === 'home')
    const lamp = home?.children?.find((n) => n.name === 'lamp')
    const sensor = home?.children?.find((n) => n.name === 'sensor')
    t.like(lamp, { retained: 1, messages: 0, kind: 'text', sample: 'ON' })
    t.like(sensor, { retained: 0, kind: 'number', sample: '21.5' })
    t.true((sensor?.messages ?? 0) >= 5, `${sensor?.messages} live messages`)
    t.is(plain.r.retained_count, 1)

    if (broker.name === 'mosquitto') {
      // the helper starts Mosquitto with sys_interval 1
      const sys = await listTopics(server.client, { session_id, pattern: 'home/#', include_system: true, duration_seconds: 2 })
      const root = sys.r.tree.find((n) => n.name === '$SYS')
      t.truthy(root, JSON.stringify(sys.r.tree.map((n) => n.name)))
      t.true((root?.topics ?? 0) > 5)
      t.truthy(sys.r.tree.find((n) => n.name === 'home'))
    }
  })

  test(`${broker.name}: bad discovery inputs are clear isError results`, async (t) => {
    const b = await broker.start()
    const server = await startInProcess()
    t.teardown(async () => {
      await server.close()
      await b.close()
    })
    const { session_id } = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: b.url })
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ pattern: 'a/#/b' }, 'INVALID_TOPIC', /pattern: .*#/],
      [{ pattern: 'a+' }, 'INVALID_TOPIC', /pattern: .*\+/],
      [{ pattern: '' }, 'INVALID_INPUT', /pattern/],
      [{ duration_seconds: 0 }, 'INVALID_INPUT', /duration_seconds/],
      [{ duration_seconds: 301 }, 'INVALID_INPUT', /duration_seconds/],
      [{ max_topics: 0 }, 'INVALID_INPUT', /max_topics/],
      [{ max_topics: 100_001 }, 'INVALID_INPUT', /max_topics/],
      [{ depth: 0 }, 'INVALID_INPUT', /depth/],
      [{ include_system: 'yes' }, 'INVALID_INPUT', /include_system/],
      [{ topic: '#' }, 'INVALID_INPUT', /topic: unknown field/],
    ]
    for (const [args, code, message] of cases) {
      const e = await fails(server.client, 'mqtt_list_topics', { session_id, ...args })
      const what = JSON.stringify(args)
      t.is(e.code, code, what)
      t.regex(e.message, message, what)
      t.truthy(e.hint, what)
    }
  })
}

test('the --demo fleet can be discovered and collected over stdio without a session_id', async (t) => {
  const server = await startStdioServer(['--demo'])
  t.teardown(() => server.close())
  const { r, chars } = await listTopics(server.client, { duration_seconds: 3 })
  t.true(chars <= DEFAULT_BUDGET)
  const roots = r.tree.map((n) => n.name)
  for (const name of ['zigbee2mqtt', 'tele', 'homeassistant', 'plant', 'devices']) t.true(roots.includes(name), `${name} in ${roots.join(', ')}`)
  t.true(r.topic_count > 20, `${r.topic_count} topics`)
  t.true(r.retained_count > 0)
  t.true(r.message_count > 0, 'the fleet publishes live')
  // known topics appear in full paths somewhere (shown or inside a folded branch's counts)
  const paths = new Set(nodes(r.tree).map((n) => n.path))
  t.true(paths.has('zigbee2mqtt') && paths.has('plant'))

  const bridge = await listTopics(server.client, { pattern: 'zigbee2mqtt/bridge/#', duration_seconds: 1 })
  t.true(nodes(bridge.r.tree).some((n) => n.path === 'zigbee2mqtt/bridge/state'), JSON.stringify(bridge.r.tree).slice(0, 300))

  const collected = await ok<{ messages: Array<{ topic: string; encoding: string }>; statistics: { total_received: number }; stopped_by: string }>(
    server.client,
    'mqtt_subscribe_and_collect',
    { topic: 'zigbee2mqtt/#', duration_seconds: 3 },
  )
  t.true(collected.messages.length > 0)
  t.true(collected.statistics.total_received >= collected.messages.length)
  t.true(collected.messages.every((m) => m.topic.startsWith('zigbee2mqtt/')))
  t.true(collected.messages.some((m) => m.encoding === 'json'))
  t.true(['duration', 'limit'].includes(collected.stopped_by))
})
