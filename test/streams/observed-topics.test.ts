import test from 'ava'
import { initialObserved, lastMessage, OBSERVED_PAYLOAD_BYTES, observedTree, observeStep } from '../../src/streams/observed-topics.js'
import { messageView } from '../../src/tools/message-view.js'
import type { Message } from '../../src/streams/types.js'

const msg = (topic: string, payload: string, retain = false, at = 1000): Message => ({ topic, payload: Buffer.from(payload), qos: 0, retain, receivedAt: at })

test('observed topics keep the last message and live counts per topic', (t) => {
  const o = initialObserved()
  observeStep(o, msg('a/b', '1', true))
  observeStep(o, msg('a/b', '2'))
  observeStep(o, msg('a/b', '3'))
  observeStep(o, msg('a/c', 'x'))
  t.is(lastMessage(o, 'a/b')?.payload.toString(), '3')
  const tree = observedTree(o, 60_000)
  t.is(tree.topic_count, 2)
  t.is(tree.message_count, 3)
  t.is(tree.retained_count, 1)
  const a = tree.tree[0]
  t.is(a?.name, 'a')
  t.deepEqual(a?.children?.map((c) => [c.name, c.messages, c.sample]), [['b', 2, '3'], ['c', 1, 'x']])
})

test('observed topics stay bounded and say so', (t) => {
  const o = initialObserved(100)
  for (let i = 0; i < 1000; i++) observeStep(o, msg(`t/${i}`, 'v'))
  t.is(o.topics.size, 100)
  t.is(o.dropped, 900)
  t.true(observedTree(o, 60_000).truncated)
})

test('observed topics keep the head of a long payload, and describe the whole one', (t) => {
  const o = initialObserved()
  const binary = Buffer.alloc(65536, 0xff)
  const json = Buffer.from(JSON.stringify({ values: Array.from({ length: 2000 }, (_, i) => i) }))
  observeStep(o, { topic: 'cam/frame', payload: binary, qos: 0, retain: false, receivedAt: 1000 })
  observeStep(o, { topic: 'cam/meta', payload: json, qos: 0, retain: false, receivedAt: 1000 })
  const kept = lastMessage(o, 'cam/frame')!
  t.true(kept.payload.length <= OBSERVED_PAYLOAD_BYTES)
  t.true(kept.payload.buffer.byteLength < binary.length)
  t.like(messageView(kept, 100), { encoding: 'base64', size_bytes: 65536, truncated: true, payload: binary.subarray(0, 100).toString('base64') })
  const cam = observedTree(o, 60_000).tree[0]!
  const byName = new Map(cam.children!.map((c) => [c.name, c]))
  t.like(byName.get('frame'), { kind: 'binary', sample: '<binary 65536 bytes>' })
  t.like(byName.get('meta'), { kind: 'json' })
})
