import test from 'ava'
import fc from 'fast-check'
import { classifyPayload } from '../../src/mqtt/payload.js'
import { indexStep, initialTopicIndex, type TopicIndex, type TopicIndexOptions, type TopicStats } from '../../src/streams/topic-index.js'
import { renderTree } from '../../src/streams/topic-tree.js'
import type { Message } from '../../src/streams/types.js'

const T0 = Date.UTC(2025, 0, 1)
const iso = (ms: number): string => new Date(ms).toISOString()

const msg = (topic: string, payload: string | Buffer, opts: { retain?: boolean; at?: number } = {}): Message => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
  qos: 0,
  retain: opts.retain ?? false,
  receivedAt: opts.at ?? T0,
})

/** The fields of a stats view, as a plain object. */
const plain = ({ messages, retained, lastSeen, kind, sample, sizeBytes }: TopicStats): TopicStats => ({ messages, retained, lastSeen, kind, sample, sizeBytes })

const indexAll = (messages: readonly Message[], opts: TopicIndexOptions = { maxTopics: 100_000 }): TopicIndex =>
  messages.reduce(indexStep, initialTopicIndex(opts))


// the reducer

test('indexStep records counts, last seen, kind and a sample of the last payload for each topic', (t) => {
  const index = indexAll([
    msg('home/kitchen/temp', '20', { retain: true, at: T0 }),
    msg('home/kitchen/temp', ' 21.5\n', { at: T0 + 1000 }),
    msg('home/kitchen/state', '{ "on": true,\n  "level": 3, "name": "a b" }', { at: T0 + 2000 }),
    msg('home/log', 'hello world', { at: T0 + 3000 }),
    msg('home/cam', Buffer.from([0xff, 0xd8, 0xff, 0xe0]), { at: T0 + 4000 }),
    msg('home/door', '', { at: T0 + 5000 }),
  ])
  const stats = Object.fromEntries([...index.topics].map(([topic, s]) => [topic, plain(s)]))
  t.deepEqual(stats['home/kitchen/temp'], { messages: 1, retained: true, lastSeen: T0 + 1000, kind: 'number', sample: '21.5', sizeBytes: 6 })
  t.deepEqual(stats['home/kitchen/state'], {
    messages: 1, retained: false, lastSeen: T0 + 2000, kind: 'json', sample: '{"on":true,"level":3,"name":"a b"}', sizeBytes: 43,
  })
  t.deepEqual(stats['home/log'], { messages: 1, retained: false, lastSeen: T0 + 3000, kind: 'text', sample: 'hello world', sizeBytes: 11 })
  t.deepEqual(stats['home/cam'], { messages: 1, retained: false, lastSeen: T0 + 4000, kind: 'binary', sample: '<binary 4 bytes>', sizeBytes: 4 })
  t.deepEqual(stats['home/door'], { messages: 1, retained: false, lastSeen: T0 + 5000, kind: 'empty', sample: '', sizeBytes: 0 })

  const r = renderTree(index, { budgetChars: 60_000 })
  const topic = (name: string, path: string, at: number, kind: string, sample: string, retained = 0) =>
    ({ name, path, topics: 1, messages: 1, retained, last_seen: iso(at), kind, sample })
  t.deepEqual(r, {
    topic_count: 5,
    message_count: 5,
    retained_count: 1,
    truncated: false,
    folded: false,
    tree: [{
      name: 'home', path: 'home', topics: 5, messages: 5, retained: 1, last_seen: iso(T0 + 5000),
      children: [
        topic('cam', 'home/cam', T0 + 4000, 'binary', '<binary 4 bytes>'),
        topic('door', 'home/door', T0 + 5000, 'empty', ''),
        {
          name: 'kitchen', path: 'home/kitchen', topics: 2, messages: 2, retained: 1, last_seen: iso(T0 + 2000),
          children: [
            topic('state', 'home/kitchen/state', T0 + 2000, 'json', '{"on":true,"level":3,"name":"a b"}'),
            topic('temp', 'home/kitchen/temp', T0 + 1000, 'number', '21.5', 1),
          ],
        },
        topic('log', 'home/log', T0 + 3000, 'text', 'hello world'),
      ],
    }],
  })
})

test('indexStep cuts samples to sampleChars without splitting a character', (t) => {
  const index = indexAll(
    [
      msg('text', 'abcd😀ef'),
      msg('json', '{ "k": "😀😀😀" }'),
      msg('long', 'x'.repeat(10_000)),
      msg('bad-utf8', Buffer.from([0x22, 0xff, 0x22])),
    ],
    { maxTopics: 10, sampleChars: 5 },
  )
  t.is(index.topics.get('text')?.sample, 'abcd')
  t.is(index.topics.get('json')?.sample, '{"k":')
  t.is(index.topics.get('long')?.sample, 'xxxxx')
  t.is(index.topics.get('long')?.sizeBytes, 10_000)
  // bytes that are not UTF-8 are binary even when they would parse after a lossy decode
  t.is(index.topics.get('bad-utf8')?.kind, 'binary')
})

test('indexStep gives a payload the kind classifyPayload gives it', (t) => {
  // the scanner's own test against JSON.parse is in test/mqtt/json-scan.test.ts; this one checks what indexStep puts
  // around it (empty, the UTF-8 check, the first-byte check) against JSON.parse's verdict as classifyPayload gives it
  const kindOf = (buf: Buffer): string | undefined => indexAll([msg('k', buf)], { maxTopics: 1 }).topics.get('k')?.kind
  const cases = [
    '', ' ', '\n', '{}', '[1,2]', ' {"a": [1, {"b": null}]} ', '"x"', '0', '-0', '12.5e-3', 'true', 'null', 'hello', '{"a":1,}', '01', '\ufeff{}', 'NaN',
  ]
  for (const c of cases) t.is(kindOf(Buffer.from(c)), classifyPayload(Buffer.from(c)), c)
  for (const bytes of [[0xff, 0xd8], [0x22, 0xff, 0x22], [0x31, 0x80], [0x7b, 0x7d, 0xc3]]) t.is(kindOf(Buffer.from(bytes)), 'binary')
  // JSON texts, with whitespace between tokens, the same cut or changed at one byte, any text, any bytes
  const payload = fc.oneof(
    fc.json(),
    fc.json().map((j) => j.replace(/([,:[\]{}])/g, (m) => [' ', '\n', '\t', '\r', ''][m.charCodeAt(0) % 5]! + m)),
    fc.tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', ']', '}', '"', '\\', ' ', 'e', '.', '-', '0', 'x')).map(([j, at, x]) => {
      const i = at % (j.length + 1)
      return j.slice(0, i) + x + j.slice(i + 1)
    }),
    fc.string({ maxLength: 30 }),
    fc.uint8Array({ maxLength: 30 }).map((u) => Buffer.from(u)),
  )
  fc.assert(
    fc.property(payload, (x) => {
      const buf = typeof x === 'string' ? Buffer.from(x) : x
      return kindOf(buf) === classifyPayload(buf)
    }),
    { numRuns: 3000 },
  )
})

test("a topic's sample is always that of its last payload, however payloads grow and shrink (samples are kept in shared chunks)", (t) => {
  // each topic's stats depend on its last payload only: the same as indexing that message alone
  const check = (messages: readonly Message[], sampleChars: number): string[] => {
    const all = indexAll(messages, { maxTopics: 100_000, sampleChars })
    const last = new Map(messages.map((m) => [m.topic, m]))
    const alone = indexAll([...last.values()], { maxTopics: 100_000, sampleChars })
    return [...last.keys()].filter((topic) => {
      const a = all.topics.get(topic)!
      const b = alone.topics.get(topic)!
      return a.sample !== b.sample || a.kind !== b.kind || a.sizeBytes !== b.sizeBytes
    })
  }
  // rounds of long, short and empty payloads over 1,000 topics: megabytes of samples replaced, chunks compacted
  const rounds: Message[] = []
  for (let r = 0; r < 60; r++) {
    for (let i = 0; i < 1000; i++) {
      const size = (r * 7 + i) % 5 === 0 ? 0 : ((r * 31 + i * 17) % 300) + 1
      rounds.push(msg(`t/${i}`, i % 3 === 0 ? JSON.stringify({ r, i, pad: 'é'.repeat(size >> 2) }) : `${r}:${'x'.repeat(size)}`))
    }
  }
  t.deepEqual(check(rounds, 80), [])
  t.deepEqual(check(rounds, 1), [])
  // samples longer than a chunk (64 KB) get one of their own
  const long = [msg('a', 'y'.repeat(100_000)), msg('b', 'z'.repeat(10)), msg('a', 'w'.repeat(70_000)), msg('c', 'v'.repeat(90_000))]
  t.deepEqual(check(long, 40_000), [])
  t.is(indexAll(long, { maxTopics: 10, sampleChars: 40_000 }).topics.get('c')?.sample, 'v'.repeat(40_000))
  fc.assert(
    fc.property(
      fc.array(fc.record({ topic: fc.constantFrom('a', 'b', 'c', 'd/e'), payload: fc.oneof(fc.string({ maxLength: 300 }), fc.json(), fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u))) }), { maxLength: 200 }),
      fc.integer({ min: 0, max: 100 }),
      (ms, sampleChars) => check(ms.map((m) => msg(m.topic, m.payload)), sampleChars).length === 0,
    ),
    { numRuns: 300 },
  )
})

test('the stats of a topic are a view: what is set on them is what the index and the tree show', (t) => {
  const index = indexAll([msg('a/b', '{"x":1}'), msg('a/c', 'hello')])
  const b = index.topics.get('a/b')!
  b.messages = 41
  b.retained = true
  b.kind = 'binary'
  b.sample = '<binary 9 bytes> é😀'
  b.sizeBytes = 9
  t.deepEqual(plain(index.topics.get('a/b')!), { messages: 41, retained: true, lastSeen: T0, kind: 'binary', sample: '<binary 9 bytes> é😀', sizeBytes: 9 })
  b.retained = false
  t.false(index.topics.get('a/b')!.retained)
  t.is(index.topics.get('a/c')!.sample, 'hello')
  const r = renderTree(index, { budgetChars: 10_000 })
  t.like(r.tree[0]!.children![0], { path: 'a/b', messages: 41, retained: 0, kind: 'binary', sample: '<binary 9 bytes> é😀' })
  t.is(r.message_count, 42)
})

test('retained messages mark the topic retained and are not counted as live messages', (t) => {
  const index = indexAll([msg('a/b', 'on', { retain: true, at: T0 })])
  t.like(index.topics.get('a/b'), { messages: 0, retained: true, lastSeen: T0 })
  t.like(renderTree(index, { budgetChars: 10_000 }), { topic_count: 1, message_count: 0, retained_count: 1 })

  indexStep(index, msg('a/b', 'off', { at: T0 + 10 }))
  t.like(index.topics.get('a/b'), { messages: 1, retained: true, lastSeen: T0 + 10, sample: 'off' })
  const r = renderTree(index, { budgetChars: 10_000 })
  t.like(r, { topic_count: 1, message_count: 1, retained_count: 1 })
  t.like(r.tree[0], { name: 'a', messages: 1, retained: 1, last_seen: iso(T0 + 10) })
})

test('maxTopics stops indexing new topics and sets truncated, while known topics keep counting', (t) => {
  const index = indexAll(['a', 'b', 'c'].map((x) => msg(x, '1')), { maxTopics: 3 })
  t.false(index.truncated)
  indexStep(index, msg('d', '1'))
  indexStep(index, msg('e', '1', { retain: true }))
  indexStep(index, msg('a', '2'))
  t.true(index.truncated)
  t.deepEqual([...index.topics.keys()], ['a', 'b', 'c'])
  t.is(index.topics.get('a')?.messages, 2)
  t.is(index.unindexedMessages, 2)
  t.like(renderTree(index, { budgetChars: 10_000 }), { topic_count: 3, message_count: 4, truncated: true })
})

test('initialTopicIndex refuses limits outside the contract', (t) => {
  t.throws(() => initialTopicIndex({ maxTopics: 0 }), { instanceOf: RangeError })
  t.throws(() => initialTopicIndex({ maxTopics: 100_001 }), { instanceOf: RangeError })
  t.throws(() => initialTopicIndex({ maxTopics: 10, sampleChars: -1 }), { instanceOf: RangeError })
  t.is(initialTopicIndex({ maxTopics: 100_000 }).sampleChars, 80)
})
