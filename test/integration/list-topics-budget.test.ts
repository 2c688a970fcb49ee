/**
 * mqtt_list_topics sizes its tree to what the rest of the answer leaves of the output budget: with a small
 * budget, a wide tree fills most of it without going over, folds what does not fit into `+` nodes that keep the
 * counts, and says so in a note; a tree that fits whole says nothing about folding.
 */
import test from 'ava'
import mqtt from 'mqtt'
import { startAedes } from '../helpers/brokers.js'
import { call, ok, startInProcess, textOf } from '../helpers/mcp.js'

interface TreeNode {
  name: string
  path: string
  topics: number
  folded?: true
  children?: TreeNode[]
}

interface Listed {
  topic_count: number
  retained_count: number
  folded: boolean
  tree: TreeNode[]
  notes: string[]
}

const BUDGET = 8000

const nodes = (tree: readonly TreeNode[]): TreeNode[] => tree.flatMap((n) => [n, ...nodes(n.children ?? [])])

test('a wide tree fills most of a small output budget without going over, and its + nodes keep the counts', async (t) => {
  const broker = await startAedes()
  const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 })
  const server = await startInProcess({ MQTT_MCP_OUTPUT_BUDGET_CHARS: String(BUDGET) })
  t.teardown(async () => {
    await pub.endAsync(true)
    await server.close()
    await broker.close()
  })
  // 60 branches of 25 retained topics, and one busy topic
  const topics = Array.from({ length: 1500 }, (_, i) => `plant/line${String(Math.floor(i / 25)).padStart(2, '0')}/sensor${String(i % 25).padStart(2, '0')}`)
  for (let i = 0; i < topics.length; i += 250) {
    await Promise.all(topics.slice(i, i + 250).map((topic, j) => pub.publishAsync(topic, JSON.stringify({ value: i + j, unit: 'C' }), { qos: 1, retain: true })))
  }
  const { session_id } = await ok<{ session_id: string }>(server.client, 'mqtt_establish_connection', { connection_string: broker.url })

  const res = await call(server.client, 'mqtt_list_topics', { session_id, pattern: 'plant/#', duration_seconds: 2, max_topics: 5000 })
  const text = textOf(res)
  const r = res.structuredContent as unknown as Listed
  t.log(`${text.length} chars, ${nodes(r.tree).length} nodes`)
  t.like(r, { topic_count: 1500, retained_count: 1500, folded: true })
  t.true(text.length <= BUDGET, `${text.length} chars`)
  t.true(text.length >= 0.85 * BUDGET, `${text.length} chars: most of the budget`)
  const lines = r.tree[0]!.children!
  t.like(lines.at(-1), { name: '+', path: 'plant/+', folded: true })
  t.is(lines.reduce((n, c) => n + c.topics, 0), 1500)
  t.true(r.notes.some((n) => /folded/.test(n) && /\+/.test(n)), r.notes.join(' | '))

  // one branch fits whole: nothing folded, and no note about folding or retained messages
  const one = await ok<Listed>(server.client, 'mqtt_list_topics', { session_id, pattern: 'plant/line07/#', duration_seconds: 1 })
  t.like(one, { topic_count: 25, folded: false })
  t.deepEqual(one.notes, [])
})
