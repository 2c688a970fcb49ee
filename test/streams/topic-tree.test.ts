import test from 'ava'
import fc from 'fast-check'
import type { Message } from '../../src/streams/types.js'
import {
  indexStep,
  initialTopicIndex,
  renderTree,
  type TopicIndex,
  type TopicIndexOptions,
  type TopicTreeNode,
  type TopicTreeResult,
} from '../../src/streams/topic-tree.js'

const T0 = Date.UTC(2025, 0, 1)
const iso = (ms: number): string => new Date(ms).toISOString()

const msg = (topic: string, payload: string | Buffer, opts: { retain?: boolean; at?: number } = {}): Message => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
  qos: 0,
  retain: opts.retain ?? false,
  receivedAt: opts.at ?? T0,
})

const indexAll = (messages: readonly Message[], opts: TopicIndexOptions = { maxTopics: 100_000 }): TopicIndex =>
  messages.reduce(indexStep, initialTopicIndex(opts))

/** Every node, parents before children. */
function nodesOf(tree: readonly TopicTreeNode[]): TopicTreeNode[] {
  const out = [...tree]
  for (let i = 0; i < out.length; i++) out.push(...(out[i]!.children ?? []))
  return out
}

/** What is wrong with a tree: counts must add up from leaves to roots, children be sorted and named after their paths, folded nodes hide their children. */
function problemsOf(r: TopicTreeResult): string[] {
  const problems: string[] = []
  const expect = (ok: boolean, what: string): void => void (ok || problems.push(what))
  const sum = (ns: readonly TopicTreeNode[], f: (n: TopicTreeNode) => number): number => ns.reduce((acc, n) => acc + f(n), 0)
  if (r.tree[0]?.path !== '#') {
    expect(sum(r.tree, (n) => n.topics) === r.topic_count, 'root topics add up to topic_count')
    expect(sum(r.tree, (n) => n.messages) === r.message_count, 'root messages add up to message_count')
    expect(sum(r.tree, (n) => n.retained) === r.retained_count, 'root retained add up to retained_count')
  }
  for (const n of nodesOf(r.tree)) {
    const own = n.kind === undefined ? 0 : 1
    expect(!(n.folded === true && n.children !== undefined), `${n.path}: folded with children`)
    expect(n.sample === undefined || n.kind !== undefined, `${n.path}: sample without kind`)
    if (n.children === undefined) {
      expect(n.folded === true || n.topics === own, `${n.path}: a leaf that is not a topic`)
      continue
    }
    const kids = n.children
    expect(n.topics === sum(kids, (c) => c.topics) + own, `${n.path}: topics`)
    const kidsMessages = sum(kids, (c) => c.messages)
    expect(own === 0 ? n.messages === kidsMessages : n.messages >= kidsMessages, `${n.path}: messages`)
    const kidsRetained = sum(kids, (c) => c.retained)
    expect(n.retained >= kidsRetained && n.retained <= kidsRetained + own, `${n.path}: retained`)
    kids.forEach((c, i) => {
      expect(c.path === `${n.path}/${c.name}`, `${c.path}: path`)
      expect(i === 0 || kids[i - 1]!.name < c.name, `${c.path}: sorted`)
      expect(n.last_seen !== null && c.last_seen !== null && n.last_seen >= c.last_seen, `${c.path}: last_seen`)
    })
  }
  return problems
}

const jsonLength = (r: TopicTreeResult): number => JSON.stringify(r).length

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
  const stats = Object.fromEntries(index.topics)
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

// the renderer

/** `site/a<i>/b<j>/c<k>`: every level a different width, retained like a broker's replay. */
function siteIndex(a: number, b: number, c: number, maxTopics = 100_000): TopicIndex {
  const index = initialTopicIndex({ maxTopics })
  const payload = Buffer.from('{"temperature":21.5,"humidity":40,"battery":97,"linkquality":120}')
  let at = T0
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      for (let k = 0; k < c; k++) indexStep(index, msg(`site/a${i}/b${j}/c${k}`, payload, { retain: true, at: at++ }))
    }
  }
  return index
}

test('10,000 retained topics render within a 60,000 character budget with folded branches that keep their counts', (t) => {
  const started = performance.now()
  const index = siteIndex(10, 10, 100)
  const indexed = performance.now()
  const r = renderTree(index, { budgetChars: 60_000 })
  const rendered = performance.now()
  t.log(`10k topics: index ${(indexed - started).toFixed(0)} ms, render ${(rendered - indexed).toFixed(0)} ms, ${jsonLength(r)} chars`)

  t.is(r.topic_count, 10_000)
  t.is(r.retained_count, 10_000)
  t.is(r.message_count, 0)
  t.true(r.folded)
  t.true(jsonLength(r) <= 54_000)
  const nodes = nodesOf(r.tree)
  const folded = nodes.filter((n) => n.folded === true)
  t.true(folded.length > 0)
  t.true(folded.every((n) => n.topics === 100 && n.retained === 100 && /^site\/a\d\/b\d$/.test(n.path)))
  // the top levels stay visible: the root and all of its ten children are unfolded
  t.is(r.tree.length, 1)
  t.is(r.tree[0]!.children?.length, 10)
  t.true(r.tree[0]!.children!.every((n) => n.children?.length === 10))
  t.deepEqual(problemsOf(r), [])
})

test('100,000 topics render within the budget too', (t) => {
  const started = performance.now()
  const index = siteIndex(20, 50, 100)
  const indexed = performance.now()
  const r = renderTree(index, { budgetChars: 60_000 })
  const rendered = performance.now()
  t.log(`100k topics: index ${(indexed - started).toFixed(0)} ms, render ${(rendered - indexed).toFixed(0)} ms, ${jsonLength(r)} chars`)

  t.is(r.topic_count, 100_000)
  t.true(jsonLength(r) <= 54_000)
  t.true(r.folded)
  t.deepEqual(problemsOf(r), [])
})

test('a budget too small for the roots gives one summary node that still counts everything', (t) => {
  const index = indexAll(Array.from({ length: 5000 }, (_, i) => msg(`device-${i}`, 'ok', { at: T0 + i })))
  const r = renderTree(index, { budgetChars: 2000 })
  t.true(jsonLength(r) <= 2000)
  t.deepEqual(r, {
    topic_count: 5000, message_count: 5000, retained_count: 0, truncated: false, folded: true,
    tree: [{ name: '#', path: '#', topics: 5000, messages: 5000, retained: 0, last_seen: iso(T0 + 4999), folded: true }],
  })
})

test('samples are dropped before structure is folded', (t) => {
  const long = 'x'.repeat(80)
  const index = indexAll(Array.from({ length: 40 }, (_, i) => msg(`room/${String(i).padStart(2, '0')}`, long)))
  const full = renderTree(index, { budgetChars: 1_000_000 })
  t.true(nodesOf(full.tree).filter((n) => n.kind !== undefined).every((n) => n.sample === long))
  // a budget that fits the 40 leaves without samples but not with them all
  const r = renderTree(index, { budgetChars: Math.ceil((jsonLength(full) - 40 * 50) / 0.9) })
  t.false(r.folded)
  const leaves = r.tree[0]!.children!
  t.is(leaves.length, 40)
  t.true(leaves.some((n) => n.sample === undefined))
  t.true(leaves.some((n) => n.sample === long))
  t.deepEqual(problemsOf(r), [])
})

test('depth folds every node at that level without calling it folding to fit', (t) => {
  const index = siteIndex(2, 3, 4)
  indexStep(index, msg('top', '1'))
  const d1 = renderTree(index, { budgetChars: 60_000, depth: 1 })
  t.false(d1.folded)
  t.deepEqual(d1.tree.map((n) => [n.path, n.topics, n.folded, n.children]), [['site', 24, true, undefined], ['top', 1, undefined, undefined]])
  t.is(d1.tree[1]!.kind, 'number')

  const d2 = renderTree(index, { budgetChars: 60_000, depth: 2 })
  t.deepEqual(d2.tree[0]!.children!.map((n) => [n.path, n.topics, n.folded, n.children]), [['site/a0', 12, true, undefined], ['site/a1', 12, true, undefined]])
  t.deepEqual(problemsOf(d2), [])

  const d9 = renderTree(index, { budgetChars: 60_000, depth: 9 })
  t.false(nodesOf(d9.tree).some((n) => n.folded))
  t.throws(() => renderTree(index, { budgetChars: 60_000, depth: 0 }), { instanceOf: RangeError })
})

test('empty topic levels become nodes named ""', (t) => {
  const index = indexAll(['/a', 'a//b', 'a/', 'a'].map((x) => msg(x, 'v')))
  const r = renderTree(index, { budgetChars: 10_000 })
  const shape = (n: TopicTreeNode): unknown => [n.name, n.path, n.topics, n.kind !== undefined, (n.children ?? []).map(shape)]
  t.deepEqual(r.tree.map(shape), [
    ['', '', 1, false, [['a', '/a', 1, true, []]]],
    ['a', 'a', 3, true, [['', 'a/', 2, true, [['b', 'a//b', 1, true, []]]]]],
  ])
  t.deepEqual(problemsOf(r), [])
})

test('the same topics in any order render to the same JSON', (t) => {
  const messages = Array.from({ length: 2000 }, (_, i) => msg(`f/${i % 7}/${i % 13}/${i}`, String(i), { retain: i % 3 === 0, at: T0 + i }))
  const shuffled = [...messages].sort((x, y) => (x.topic.length % 5) - (y.topic.length % 5) || (y.receivedAt - x.receivedAt))
  for (const budgetChars of [3000, 20_000, 1_000_000]) {
    const a = JSON.stringify(renderTree(indexAll(messages), { budgetChars }))
    t.is(JSON.stringify(renderTree(indexAll(shuffled), { budgetChars })), a)
    t.is(JSON.stringify(renderTree(indexAll(messages), { budgetChars })), a)
  }
})

test('an empty index renders an empty tree', (t) => {
  t.deepEqual(renderTree(initialTopicIndex({ maxTopics: 10 }), { budgetChars: 2000 }), {
    topic_count: 0, message_count: 0, retained_count: 0, truncated: false, folded: false, tree: [],
  })
})

test('for any topics and any budget of 2000 or more the JSON fits and the counts are conserved', (t) => {
  const level = fc.oneof(
    fc.constantFrom('', 'a', 'b', 'sensor', 'x"y\\z', '\u0001\n', 'ü', '😀', '\ud800', 'zigbee2mqtt', '$SYS'),
    fc.string({ maxLength: 12 }),
  )
  const topic = fc.array(level, { minLength: 1, maxLength: 6 }).map((ls) => ls.join('/'))
  const payload = fc.oneof(
    fc.constantFrom('', '42', '{ "a": [1, 2] }', 'on', '"quoted"', 'true'),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  )
  const message = fc.record({ topic, payload, retain: fc.boolean(), at: fc.integer({ min: 0, max: 4_102_444_800_000 }) })
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 400 }),
      fc.integer({ min: 2000, max: 200_000 }),
      fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
      fc.integer({ min: 1, max: 500 }),
      (ms, budgetChars, depth, maxTopics) => {
        const index = indexAll(ms.map((m) => msg(m.topic, m.payload, m)), { maxTopics })
        const r = renderTree(index, depth === undefined ? { budgetChars } : { budgetChars, depth })
        const topics = new Set(ms.map((m) => m.topic))
        const live = ms.filter((m) => !m.retain && index.topics.has(m.topic)).length
        if (jsonLength(r) > budgetChars * 0.9) return false
        if (r.topic_count !== Math.min(topics.size, maxTopics) || r.message_count !== live) return false
        if (r.truncated !== topics.size > maxTopics) return false
        return problemsOf(r).length === 0
      },
    ),
    { numRuns: 300 },
  )
  t.pass()
})
