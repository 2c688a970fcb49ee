import test from 'ava'
import { initialObserved, lastMessage, observedTree, observeStep } from '../../src/streams/observed-topics.js'
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
