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

/** Every node that stands for folded topics: folded branches and the `+` / `#` nodes that sum the rest of a level. */
const foldedOf = (r: TopicTreeResult): TopicTreeNode[] => nodesOf(r.tree).filter((n) => n.folded === true)

/** `+` (or `#` alone at the top) sums the children of its parent that are not shown: always folded, always last. */
const isRest = (n: TopicTreeNode): boolean => n.name === '+' || n.name === '#'

/**
 * What is wrong with a tree: counts must add up from leaves to roots, children be sorted and named after their paths,
 * folded nodes hide their children, and a rest node (`+`) comes last, folded, without kind or sample.
 */
function problemsOf(r: TopicTreeResult): string[] {
  const problems: string[] = []
  const expect = (ok: boolean, what: string): void => void (ok || problems.push(what))
  const sum = (ns: readonly TopicTreeNode[], f: (n: TopicTreeNode) => number): number => ns.reduce((acc, n) => acc + f(n), 0)
  expect(sum(r.tree, (n) => n.topics) === r.topic_count, 'root topics add up to topic_count')
  expect(sum(r.tree, (n) => n.messages) === r.message_count, 'root messages add up to message_count')
  expect(sum(r.tree, (n) => n.retained) === r.retained_count, 'root retained add up to retained_count')
  const restsLast = (ns: readonly TopicTreeNode[], where: string): void =>
    ns.forEach((c, i) => {
      if (!isRest(c)) return
      expect(i === ns.length - 1, `${where}: ${c.path} is not last`)
      expect(c.folded === true && c.kind === undefined && c.sample === undefined && c.topics >= 2, `${c.path}: a rest node`)
    })
  restsLast(r.tree, 'tree')
  expect(r.tree.every((n, i) => i === 0 || isRest(n) || r.tree[i - 1]!.name < n.name), 'roots sorted')
  expect(r.tree.every((n) => n.name !== '#' || r.tree.length === 1), '# only alone')
  expect(!foldedOf(r).some(isRest) || r.folded, 'a rest node means folded to fit')
  for (const n of nodesOf(r.tree)) {
    const own = n.kind === undefined ? 0 : 1
    expect(!(n.folded === true && n.children !== undefined), `${n.path}: folded with children`)
    expect(n.sample === undefined || n.kind !== undefined, `${n.path}: sample without kind`)
    expect(n.topics >= 1 && n.retained <= n.topics, `${n.path}: counts`)
    if (n.children === undefined) {
      expect(n.folded === true || n.topics === own, `${n.path}: a leaf that is not a topic`)
      continue
    }
    const kids = n.children
    expect(kids.length > 0, `${n.path}: empty children`)
    expect(n.topics === sum(kids, (c) => c.topics) + own, `${n.path}: topics`)
    const kidsMessages = sum(kids, (c) => c.messages)
    expect(own === 0 ? n.messages === kidsMessages : n.messages >= kidsMessages, `${n.path}: messages`)
    const kidsRetained = sum(kids, (c) => c.retained)
    expect(n.retained >= kidsRetained && n.retained <= kidsRetained + own, `${n.path}: retained`)
    restsLast(kids, n.path)
    expect(kids.filter(isRest).every((c) => c.name === '+'), `${n.path}: # below the top`)
    kids.forEach((c, i) => {
      expect(c.path === `${n.path}/${c.name}`, `${c.path}: path`)
      expect(i === 0 || isRest(c) || kids[i - 1]!.name < c.name, `${c.path}: sorted`)
      expect(n.last_seen !== null && c.last_seen !== null && n.last_seen >= c.last_seen, `${c.path}: last_seen`)
    })
  }
  return problems
}

const jsonLength = (r: TopicTreeResult): number => JSON.stringify(r).length

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
  t.true(jsonLength(r) >= 0.95 * 54_000, 'most of the budget is used')
  const folded = foldedOf(r)
  t.true(folded.length > 0)
  t.true(folded.every((n) => (n.topics === 100 && n.retained === 100 && /^site\/a\d\/b\d$/.test(n.path)) || /^site\/a\d\/b\d\/\+$/.test(n.path)))
  // the top levels stay visible: the root, all of its ten children and their hundred children
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

const READING = '{"temperature":21.5,"humidity":40,"battery":97,"linkquality":120}'

/** `bench/g<i>/s<k>`: `groups` branches of `per` topics each, retained, like the bench's discover scenario. */
function groupsIndex(groups: number, per: number): TopicIndex {
  const index = initialTopicIndex({ maxTopics: 100_000 })
  const payload = Buffer.from(READING)
  for (let g = 0; g < groups; g++) {
    for (let k = 0; k < per; k++) {
      indexStep(index, msg(`bench/g${String(g).padStart(4, '0')}/s${String(k).padStart(2, '0')}`, payload, { retain: true, at: T0 + g * per + k }))
    }
  }
  return index
}

test('100,000 topics under 1,000 branches show as many branches as fit and fold the rest of the level into + with its counts', (t) => {
  const index = groupsIndex(1000, 100)
  const started = performance.now()
  const r = renderTree(index, { budgetChars: 60_000 })
  const length = jsonLength(r)
  const nodes = nodesOf(r.tree)
  t.log(`render ${(performance.now() - started).toFixed(0)} ms, ${length} chars, ${nodes.length} nodes`)

  t.true(length <= 54_000)
  t.true(length >= 0.95 * 54_000, `${length} chars: most of the budget is used`)
  t.true(nodes.length >= 300, `${nodes.length} nodes`)
  t.like(r, { topic_count: 100_000, retained_count: 100_000, folded: true })
  t.is(r.tree.length, 1)
  const groups = r.tree[0]!.children!
  t.true(groups.length >= 300, `${groups.length} branches shown`)
  // the biggest branches (all equal here) in name order, then one node for the rest of the level
  const shown = groups.slice(0, -1)
  t.deepEqual(shown.map((n) => n.name), shown.map((_, i) => `g${String(i).padStart(4, '0')}`))
  t.like(groups.at(-1), { name: '+', path: 'bench/+', topics: 100_000 - 100 * shown.length, retained: 100_000 - 100 * shown.length, folded: true })
  t.is(groups.at(-1)!.last_seen, iso(T0 + 99_999))
  t.true(shown.slice(1).every((n) => n.folded === true && n.topics === 100))
  t.deepEqual(problemsOf(r), [])
})

test('one path is shown down to a topic with its sample, so a tree folded at its second level still shows what its topics carry', (t) => {
  const r = renderTree(groupsIndex(1000, 100), { budgetChars: 60_000 })
  const first = r.tree[0]!.children![0]!
  t.like(first, { path: 'bench/g0000', topics: 100 })
  t.like(first.children?.[0], { path: 'bench/g0000/s00', kind: 'json', sample: READING.slice(0, 80) })
  t.like(first.children?.at(-1), { path: 'bench/g0000/+', topics: 99, folded: true })
  t.deepEqual(problemsOf(r), [])
})

test('the biggest branches are unfolded first, by topics and by live messages', (t) => {
  const messages: Message[] = []
  // fleet: 3,000 retained topics in 30 branches; misc: 600 retained branches of one topic; busy: 20 topics with 500 live messages each
  for (let b = 0; b < 30; b++) for (let d = 0; d < 100; d++) messages.push(msg(`fleet/b${String(b).padStart(2, '0')}/d${String(d).padStart(2, '0')}`, '1', { retain: true }))
  for (let m = 0; m < 600; m++) messages.push(msg(`misc/m${String(m).padStart(3, '0')}`, 'x', { retain: true }))
  for (let n = 0; n < 500; n++) for (let s = 0; s < 20; s++) messages.push(msg(`busy/s${String(s).padStart(2, '0')}`, String(n), { at: T0 + n }))
  const r = renderTree(indexAll(messages), { budgetChars: 20_000 })
  t.true(jsonLength(r) <= 18_000)
  const [busy, fleet, misc] = r.tree
  t.like(busy, { path: 'busy', topics: 20, messages: 10_000 })
  t.is(busy!.children?.length, 20)
  t.true(busy!.children!.every((n) => n.kind === 'number'))
  t.like(fleet, { path: 'fleet', topics: 3000 })
  t.deepEqual(fleet!.children?.map((n) => n.topics), Array(30).fill(100))
  // one-topic branches of misc are the smallest: folded first
  t.like(misc, { path: 'misc', topics: 600, folded: true })
  t.deepEqual(problemsOf(r), [])
})

test('a level of 100,000 children shows the busiest and biggest first and folds the rest into one + node', (t) => {
  const index = initialTopicIndex({ maxTopics: 100_000 })
  for (let i = 0; i < 100_000; i++) indexStep(index, msg(`wide/d${String(i).padStart(6, '0')}`, 'on', { retain: true, at: T0 + i }))
  // every thousandth topic is live too
  for (let i = 500; i < 100_000; i += 1000) for (let n = 0; n < 3; n++) indexStep(index, msg(`wide/d${String(i).padStart(6, '0')}`, 'off', { at: T0 + 200_000 + n }))
  const started = performance.now()
  const r = renderTree(index, { budgetChars: 60_000 })
  t.log(`render ${(performance.now() - started).toFixed(0)} ms, ${jsonLength(r)} chars, ${nodesOf(r.tree).length} nodes`)
  t.true(jsonLength(r) <= 54_000)
  t.true(jsonLength(r) >= 0.95 * 54_000)
  const kids = r.tree[0]!.children!
  t.true(kids.length > 300)
  const rest = kids.at(-1)!
  t.like(rest, { name: '+', path: 'wide/+', topics: 100_000 - (kids.length - 1), messages: 0, folded: true })
  const live = kids.filter((n) => n.messages > 0)
  t.is(live.length, 100, 'every live topic is shown')
  t.true(live.every((n) => n.messages === 3))
  t.deepEqual(problemsOf(r), [])
})

test('deep trees fold by branch within the budget', (t) => {
  // a binary tree 17 levels deep below deep/: 100,000 topics
  const index = initialTopicIndex({ maxTopics: 100_000 })
  for (let i = 0; i < 100_000; i++) indexStep(index, msg(`deep/${i.toString(2).padStart(17, '0').split('').join('/')}`, String(i), { retain: true, at: T0 + i }))
  const r = renderTree(index, { budgetChars: 60_000 })
  const nodes = nodesOf(r.tree)
  t.log(`${jsonLength(r)} chars, ${nodes.length} nodes`)
  t.true(jsonLength(r) <= 54_000)
  t.true(jsonLength(r) >= 0.95 * 54_000)
  t.true(nodes.length >= 200)
  // the path to one topic, 18 levels down, with its sample
  t.true(nodes.some((n) => n.path === `deep/${'0/'.repeat(16)}0` && n.sample === '0'))
  t.deepEqual(problemsOf(r), [])

  // a chain: every level has 20 topics and one branch that goes on, 60 levels deep
  const chain: Message[] = []
  for (let d = 0; d < 60; d++) for (let k = 0; k < 20; k++) chain.push(msg(`${'next/'.repeat(d)}t${String(k).padStart(2, '0')}`, 'v'))
  for (const budgetChars of [2000, 20_000, 200_000]) {
    const c = renderTree(indexAll(chain), { budgetChars })
    t.true(jsonLength(c) <= budgetChars * 0.9)
    t.deepEqual(problemsOf(c), [], `budget ${budgetChars}`)
  }
})

test('a budget too small for anything but the totals gives one summary node that still counts everything', (t) => {
  const index = indexAll(Array.from({ length: 5000 }, (_, i) => msg(`device-${i}`, 'ok', { at: T0 + i })))
  const r = renderTree(index, { budgetChars: 300 })
  t.true(jsonLength(r) <= 270)
  t.deepEqual(r, {
    topic_count: 5000, message_count: 5000, retained_count: 0, truncated: false, folded: true,
    tree: [{ name: '#', path: '#', topics: 5000, messages: 5000, retained: 0, last_seen: iso(T0 + 4999), folded: true }],
  })
  // a little more budget shows the first roots and sums the others in + (the top level's rest)
  const more = renderTree(index, { budgetChars: 2000 })
  t.true(jsonLength(more) <= 1800)
  const rest = more.tree.at(-1)!
  t.true(more.tree.length > 5)
  t.like(rest, { name: '+', path: '+', topics: 5000 - (more.tree.length - 1), folded: true })
  t.deepEqual(problemsOf(more), [])
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

test('for any topics and any budget of 2000 or more the JSON fits, the counts are conserved and the output is deterministic', (t) => {
  const level = fc.oneof(
    fc.constantFrom('', 'a', 'b', 'sensor', 'x"y\\z', '\u0001\n', 'ü', '😀', '\ud800', 'zigbee2mqtt', '$SYS', 'a-b', 'a.b'),
    fc.string({ maxLength: 12 }),
  )
  // a few names per level make bushy trees that have to be folded; free names make odd ones
  const bushy = fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'a-b', 'a.b', 'a b'), { minLength: 1, maxLength: 6 })
  // topic names never hold the wildcards + and # (MQTT 3.1.1 §4.7.1): a broker refuses to publish on them
  const topic = fc.oneof(fc.array(level, { minLength: 1, maxLength: 6 }), bushy).map((ls) => ls.join('/').replace(/[+#]/g, '_'))
  const payload = fc.oneof(
    fc.constantFrom('', '42', '{ "a": [1, 2] }', 'on', '"quoted"', 'true'),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  )
  const message = fc.record({ topic, payload, retain: fc.boolean(), at: fc.integer({ min: 0, max: 4_102_444_800_000 }) })
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 1500 }),
      fc.oneof(fc.integer({ min: 2000, max: 20_000 }), fc.integer({ min: 2000, max: 200_000 })),
      fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
      fc.integer({ min: 1, max: 1500 }),
      (ms, budgetChars, depth, maxTopics) => {
        const messages = ms.map((m) => msg(m.topic, m.payload, m))
        const opts = depth === undefined ? { budgetChars } : { budgetChars, depth }
        const index = indexAll(messages, { maxTopics })
        const r = renderTree(index, opts)
        const json = JSON.stringify(r)
        const topics = new Set(ms.map((m) => m.topic))
        const live = ms.filter((m) => !m.retain && index.topics.has(m.topic)).length
        const fail = (what: string): never => {
          throw new Error(`${what}: ${json.slice(0, 2000)}`)
        }
        if (json.length > budgetChars * 0.9) fail(`${json.length} chars over ${budgetChars * 0.9}`)
        // folding leaves unused at most what one more node (and its sample) would have cost
        if (r.folded && json.length < budgetChars * 0.9 - 2500) fail(`folded with only ${json.length} of ${budgetChars * 0.9} chars used`)
        if (r.topic_count !== Math.min(topics.size, maxTopics) || r.message_count !== live) fail('totals')
        if (r.truncated !== topics.size > maxTopics) fail('truncated')
        const problems = problemsOf(r)
        if (problems.length > 0) fail(problems.join('; '))
        if (JSON.stringify(renderTree(index, opts)) !== json) fail('a second render differs')
        if (topics.size <= maxTopics) {
          // with one payload per topic the index does not depend on the order of arrival, and neither may the tree
          const payloads = new Map(messages.map((m) => [m.topic, m.payload]))
          const same = messages.map((m) => ({ ...m, payload: payloads.get(m.topic)! }))
          const forward = JSON.stringify(renderTree(indexAll(same, { maxTopics }), opts))
          if (JSON.stringify(renderTree(indexAll([...same].reverse(), { maxTopics }), opts)) !== forward) fail('another arrival order renders another tree')
        }
        return true
      },
    ),
    { numRuns: 300 },
  )
  t.pass()
})
