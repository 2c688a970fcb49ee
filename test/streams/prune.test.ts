import { isDeepStrictEqual } from 'node:util'
import test from 'ava'
import fc from 'fast-check'
import {
  countRules,
  initialPrune,
  looksLikeError,
  pruneResult,
  pruneStateSize,
  pruneStep,
  sniffMessage,
  type PruneOptions,
  type PruneResult,
} from '../../src/streams/prune.js'
import type { Message } from '../../src/streams/types.js'

const msg = (topic: string, payload: string | Buffer, receivedAt: number): Message => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  qos: 0,
  retain: false,
  receivedAt,
})

const prune = (messages: readonly Message[], opts: PruneOptions): PruneResult =>
  pruneResult(messages.reduce(pruneStep, initialPrune(opts)))

const text = (m: Message): string => m.payload.toString('utf8')

// looksLikeError

test('looksLikeError finds error words in topics, text and JSON fields', (t) => {
  const errors: Array<[string, string]> = [
    ['plant/pump/status', 'ERROR: pressure sensor'],
    ['plant/pump/status', 'connection failed'],
    ['plant/pump/alarm', '1'],
    ['zigbee2mqtt/lamp/availability', 'offline'],
    ['app/log', '{"level":"warn","msg":"disk 91%"}'],
    ['app/log', '{"severity":"CRITICAL"}'],
    ['app/state', '{"status":"failure"}'],
    ['app/state', '{"error":{"code":5}}'],
    ['app/state', '{"faults":3}'],
    ['device/temp_error', '21.5'],
    ['app/log', '"Exception in thread main"'],
  ]
  for (const [topic, payload] of errors) t.true(looksLikeError(topic, Buffer.from(payload)), `${topic} ${payload}`)
})

test('looksLikeError ignores clear error fields and words that only contain an error word', (t) => {
  const normal: Array<[string, string]> = [
    ['sensors/temp', '21.5'],
    ['config/default', 'on'],
    ['cluster/failover', 'primary'],
    ['app/state', '{"error":null,"errors":0,"fault":"none","last_warning":""}'],
    ['app/state', '{"status":"online","state":"ON"}'],
    ['app/state', 'true'],
    ['app/state', ''],
    ['homeassistant/sensor/lamp/config', '{"name":"Lamp fault lamp","payload_available":"online","payload_not_available":"offline"}'],
  ]
  for (const [topic, payload] of normal) t.false(looksLikeError(topic, Buffer.from(payload)), `${topic} ${payload}`)
})

test('looksLikeError scans neither binary nor oversized payloads', (t) => {
  t.false(looksLikeError('raw', Buffer.from([0xff, 0xfe, 0x65, 0x72, 0x72, 0x6f, 0x72])))
  t.false(looksLikeError('raw', Buffer.from(`${'x'.repeat(5000)} error`)))
})

// known inputs

test('pruneResult keeps 50 of 500 numeric messages with the first and last, and gives the value range', (t) => {
  const input = Array.from({ length: 500 }, (_, i) => msg('sensors/temp', (20 + (i % 35) / 10).toFixed(1), 1000 + i * 100))
  const r = prune(input, { targetCount: 50 })
  t.is(r.keptCount, 50)
  t.is(r.kept.length, 50)
  t.is(r.kept[0], input[0])
  t.is(r.kept[49], input[499])
  t.deepEqual(r.summary, ['sensors/temp: 450 of 500 dropped, values 20–23.4'])
  t.deepEqual(r.byRule, { error: 0, first_last: 2, sample: 48 })
  t.is(r.dropped, 450)
})

test('pruneResult keeps every error in a stream of normal messages', (t) => {
  const input: Message[] = []
  for (let i = 0; i < 300; i++) input.push(msg(`plant/line${i % 3}/temp`, String(60 + (i % 7)), i * 50))
  const errors = [
    msg('plant/line1/temp', 'sensor failure', 0),
    msg('plant/line2/alarm', '1', 0),
    msg('app/log', '{"level":"error","msg":"db down"}', 0),
    msg('plant/line0/temp', '{"status":"warning"}', 0),
  ]
  errors.forEach((e, k) => input.splice(40 + k * 70, 0, { ...e, receivedAt: input[40 + k * 70]!.receivedAt }))
  const r = prune(input, { targetCount: 20 })
  for (const e of errors) t.true(r.kept.some((m) => m.topic === e.topic && text(m) === text(e)), text(e))
  t.is(r.byRule.error, 4)
  t.true(r.keptCount <= 20)
})

test('pruneResult keeps at most half the target of a flood of errors, the first ones, the latest and the rare one', (t) => {
  const input: Message[] = []
  for (let i = 0; i < 1200; i++) {
    if (i % 6 === 5) input.push(msg(`sensors/s${i % 4}`, String(i), i * 10))
    else if (i === 700) input.push(msg('plant/valve', 'fault: valve stuck', i * 10))
    else input.push(msg('plant/pump', 'ERROR overpressure', i * 10))
  }
  const r = prune(input, { targetCount: 40 })
  const errorsKept = r.kept.filter((m) => m.topic.startsWith('plant/'))
  t.is(errorsKept.length, 20)
  t.is(r.byRule.error, 20)
  t.is(errorsKept[0], input[0])
  t.is(errorsKept.at(-1), input.findLast((m) => m.topic === 'plant/pump'))
  // the repeating error takes one place among the latest, so the single different one survives the flood
  t.true(errorsKept.includes(input[700]!))
  t.true(r.kept.filter((m) => m.topic.startsWith('sensors/')).length >= 8)
  t.true(r.summary.some((l) => l.startsWith('plant/pump: 980 of 999 dropped')), r.summary.join('\n'))
})

test('pruneResult keeps the first and last message of several topics when the target allows', (t) => {
  const topics = ['a/1', 'a/2', 'b/1', 'c', 'd/e/f']
  const input = Array.from({ length: 600 }, (_, i) => msg(topics[(i * 7) % 5]!, `{"v":${i}}`, i * 20))
  const r = prune(input, { targetCount: 12 })
  for (const topic of topics) {
    const ofTopic = input.filter((m) => m.topic === topic)
    t.true(r.kept.includes(ofTopic[0]!), `first of ${topic}`)
    t.true(r.kept.includes(ofTopic.at(-1)!), `last of ${topic}`)
  }
  t.is(r.byRule.first_last, 10)
  t.is(r.keptCount, 12)
})

test('pruneResult gives live topics first and last after a retained dump of more one-off topics than the target', (t) => {
  const input: Message[] = Array.from({ length: 300 }, (_, i) => ({ ...msg(`cfg/dev${i}`, 'online', 1000), retain: true }))
  for (let i = 0; i < 200; i++) input.push(msg(i % 2 === 0 ? 'live/power' : 'live/energy', String(i), 2000 + i * 100))
  const r = prune(input, { targetCount: 20 })
  for (const topic of ['live/power', 'live/energy']) {
    const ofTopic = input.filter((m) => m.topic === topic)
    t.true(r.kept.includes(ofTopic[0]!), `first of ${topic}`)
    t.true(r.kept.includes(ofTopic.at(-1)!), `last of ${topic}`)
  }
  t.true(r.kept.filter((m) => m.retain).length >= 10)
  t.is(r.keptCount, 20)
})

test('pruneResult prefers distinct payload shapes to repeats of the same value', (t) => {
  const distinct = ['{"on":true,"fw":"1.2.0"}', 'rebooting', '42', Buffer.from([0x00, 0xff, 0x10]), '[1,2,3]', '{"on":false,"rssi":-70}']
  const input: Message[] = []
  for (let i = 0; i < 600; i++) {
    const k = (i - 45) / 90
    input.push(msg('dev/state', Number.isInteger(k) && k < distinct.length ? distinct[k]! : '{"on":true}', i * 100))
  }
  const r = prune(input, { targetCount: 12 })
  for (const d of distinct) t.true(r.kept.some((m) => m.payload.equals(Buffer.from(d))), String(d))
  t.is(r.keptCount, 12)
})

test('pruneResult spreads a burst that shares one millisecond', (t) => {
  const input = Array.from({ length: 400 }, (_, i) => msg('burst', String(i), 5))
  const r = prune(input, { targetCount: 30 })
  t.is(r.keptCount, 30)
  const indices = r.kept.map((m) => Number(text(m)))
  t.true(indices.filter((i) => i >= 200).length >= 10)
})

test('pruneResult gives the ranges of a JSON object’s first numeric fields in the summary', (t) => {
  const input = Array.from({ length: 100 }, (_, i) =>
    msg('zigbee2mqtt/th1', `{"battery":${90 - (i % 3)},"temperature":${(20 + (i % 10) / 4).toFixed(2)},"name":"a\\"b","nested":{"x":${i}},"humidity":${40 + (i % 16)},"linkquality":${i}}`, i * 1000),
  )
  const r = prune(input, { targetCount: 10 })
  t.deepEqual(r.summary, ['zigbee2mqtt/th1: 90 of 100 dropped, battery 88–90, temperature 20–22.25, humidity 40–55'])
})

test('sniffMessage analyses a message once for every window that prunes it, and a new message anew', (t) => {
  const m = msg('a/b', '{"t":21.5,"h":40}', 0)
  const first = sniffMessage(m)
  t.is(sniffMessage(m), first)
  const twin = msg('a/b', '{"t":21.5,"h":40}', 0)
  t.not(sniffMessage(twin), first)
  t.deepEqual(sniffMessage(twin), first)
  t.deepEqual(first.fields?.map((f) => f.value), [21.5, 40])
})

test('sniffMessage reads the numbers of top-level fields as JSON.parse does', (t) => {
  const numbers = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => Math.round(x * 1000) / 1000))
  fc.assert(
    fc.property(fc.array(numbers, { minLength: 1, maxLength: 8 }), (values) => {
      const json = `{${values.map((v, i) => `"k${i}":${JSON.stringify(v)}`).join(',')}}`
      const parsed = Object.values(JSON.parse(json) as Record<string, number>)
      t.deepEqual(sniffMessage(msg('n/1', json, 0)).fields?.map((f) => f.value), parsed, json)
    }),
    { numRuns: 2000 },
  )
  for (const text of ['-0', '12.50', '0.1', '-3.000', '123456789012345', '1234567890123456789', '1e3', '-2.5E-3', '1.']) {
    t.is(sniffMessage(msg('n/2', `{"v":${text}}`, 0)).fields?.[0]?.value, Number(text), text)
  }
})

test('pruneResult gives the same summary when windows interleave on shared messages', (t) => {
  // two windows fed the same Message objects back to back, as a session feeds overlapping windows
  const input = Array.from({ length: 300 }, (_, i) => msg(`s/${i % 3}`, i % 2 === 0 ? `{"v":${i},"w":${-i}}` : `{"w":${i}}`, i * 10))
  const a = initialPrune({ targetCount: 20 })
  const b = initialPrune({ targetCount: 5 })
  for (const m of input) {
    pruneStep(a, m)
    pruneStep(b, m)
  }
  t.deepEqual(pruneResult(a), prune(input, { targetCount: 20 }))
  t.deepEqual(pruneResult(b), prune(input, { targetCount: 5 }))
  t.regex(pruneResult(a).summary[0]!, /v 0–29\d, w -29\d–29\d/)
})

test('pruneResult holds long payloads as their heads when keepBytes is given, and judges them whole', (t) => {
  const big = (i: number): Buffer => Buffer.from(`{"n":${i},"error":"${'x'.repeat(5000)}"}`)
  const input = Array.from({ length: 200 }, (_, i) => msg(`cam/${i % 4}`, i % 10 === 0 ? big(i) : Buffer.alloc(8000, i), i))
  const whole = prune(input, { targetCount: 20 })
  const heads = prune(input, { targetCount: 20, keepBytes: 256 })
  t.deepEqual(heads.summary, whole.summary)
  t.deepEqual(heads.byRule, whole.byRule)
  t.true(heads.kept.every((m) => m.payload.length <= 256 && m.cut !== undefined))
  t.deepEqual(heads.kept.map((m) => [m.topic, m.receivedAt, m.cut?.sizeBytes]), whole.kept.map((m) => [m.topic, m.receivedAt, m.payload.length]))
})

test('pruneResult keeps nothing of an empty window', (t) => {
  const r = prune([], { targetCount: 10 })
  t.deepEqual(r, { kept: [], seen: 0, keptCount: 0, dropped: 0, byRule: { error: 0, first_last: 0, sample: 0 }, rules: [], summary: [] })
})

test('pruneResult sums topics beyond maxTopics as other topics', (t) => {
  const input = Array.from({ length: 300 }, (_, i) => msg(`t/${i % 30}`, String(i % 11), i))
  const r = prune(input, { targetCount: 10, maxTopics: 5 })
  t.is(r.keptCount, 10)
  t.is(r.summary.length, 6)
  t.regex(r.summary.at(-1)!, /^other topics \(beyond 5 tracked\): \d+ of 250 dropped, values 0–10$/)
})

test('initialPrune refuses a target outside 1..500', (t) => {
  for (const targetCount of [0, 501, 2.5, Number.NaN]) t.throws(() => initialPrune({ targetCount }), { instanceOf: RangeError })
})

// properties

interface Template {
  readonly payload: Buffer
  readonly error: boolean
}

const templates: readonly Template[] = [
  ...['21.5', '22', '-3', '{"t":1}', '{"t":2,"h":40}', '[1]', 'ok', 'ON', '', '{"error":null}', 'true', '"x"'].map((p) => ({
    payload: Buffer.from(p),
    error: false,
  })),
  { payload: Buffer.from([0xff, 0x00, 0x7f]), error: false },
  ...['ERROR: disk', '{"level":"warn"}', 'sensor offline', '{"status":"failure"}', 'Alarm!'].map((p) => ({ payload: Buffer.from(p), error: true })),
]

const normalCount = templates.filter((x) => !x.error).length
const entryArb = fc.record({
  topic: fc.constantFrom('a', 'b', 'c/d', 'e/f/g', 'h', 'i/j'),
  // errors are rarer than normal traffic, so long streams still meet the preconditions below
  template: fc.oneof(
    { arbitrary: fc.nat({ max: normalCount - 1 }), weight: 12 },
    { arbitrary: fc.integer({ min: normalCount, max: templates.length - 1 }), weight: 1 },
  ),
  // repeated timestamps (bursts) and gaps
  dt: fc.oneof(fc.constant(0), fc.nat({ max: 2000 })),
})
// fast-check's default size keeps arrays near 10 elements: long streams are where pruning happens
const streamArb = fc.oneof(fc.array(entryArb, { maxLength: 30 }), fc.array(entryArb, { maxLength: 400, size: 'max' }))

interface Case {
  readonly input: readonly Message[]
  readonly isError: readonly boolean[]
}

const toCase = (raw: ReadonlyArray<{ topic: string; template: number; dt: number }>): Case => {
  let at = 1_700_000_000_000
  const input = raw.map(({ topic, template, dt }) => {
    at += dt
    return msg(topic, templates[template]!.payload, at)
  })
  return { input, isError: raw.map((r) => templates[r.template]!.error) }
}

const caseArb = streamArb.map(toCase)
const targetArb = fc.integer({ min: 1, max: 100 })
const runs = { numRuns: 300 }

const indicesOf = (input: readonly Message[], r: PruneResult): number[] => {
  const index = new Map(input.map((m, i) => [m, i]))
  return r.kept.map((m) => index.get(m) ?? -1)
}

test('pruneResult never keeps more than the target, and kept plus dropped is what was seen', (t) => {
  fc.assert(
    fc.property(caseArb, targetArb, ({ input }, targetCount) => {
      const r = prune(input, { targetCount })
      return r.keptCount <= targetCount && r.kept.length === r.keptCount && r.seen === input.length && r.keptCount + r.dropped === r.seen &&
        r.byRule.error + r.byRule.first_last + r.byRule.sample === r.keptCount
    }),
    runs,
  )
  t.pass()
})

test('pruneResult names the rule of every kept message, and the rules add up to byRule', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c/error', 'd'), fc.constantFrom('1', '2', 'fault', '{"x":1}')), { maxLength: 200 }), fc.integer({ min: 1, max: 30 }), (pairs, target) => {
      const r = prune(pairs.map(([topic, p], i) => msg(topic, p, i)), { targetCount: target })
      t.is(r.rules.length, r.kept.length)
      t.deepEqual(countRules(r.rules), r.byRule)
    }),
  )
})

test('pruneResult keeps every error while there are at most half the target of them', (t) => {
  fc.assert(
    fc.property(caseArb, targetArb, ({ input, isError }, targetCount) => {
      const errors = input.filter((_, i) => isError[i])
      fc.pre(errors.length <= Math.floor(targetCount / 2))
      const kept = new Set(prune(input, { targetCount }).kept)
      return errors.every((e) => kept.has(e))
    }),
    runs,
  )
  t.pass()
})

test('pruneResult keeps every topic’s first and last message when 2 × topics + errors fit the target', (t) => {
  fc.assert(
    fc.property(caseArb, targetArb, ({ input, isError }, targetCount) => {
      const topics = [...new Set(input.map((m) => m.topic))]
      const errors = isError.filter(Boolean).length
      fc.pre(2 * topics.length + errors <= targetCount)
      const kept = new Set(prune(input, { targetCount }).kept)
      return topics.every((topic) => {
        const ofTopic = input.filter((m) => m.topic === topic)
        return kept.has(ofTopic[0]!) && kept.has(ofTopic.at(-1)!)
      })
    }),
    runs,
  )
  t.pass()
})

test('pruneResult keeps a subsequence of the input in arrival order', (t) => {
  fc.assert(
    fc.property(caseArb, targetArb, ({ input }, targetCount) => {
      const indices = indicesOf(input, prune(input, { targetCount }))
      return indices.every((i, k) => i >= 0 && (k === 0 || i > indices[k - 1]!))
    }),
    runs,
  )
  t.pass()
})

test('pruneResult gives the same result for the same input', (t) => {
  fc.assert(
    fc.property(caseArb, targetArb, fc.integer({ min: 0, max: 8 }), ({ input }, targetCount, maxTopics) => {
      // a copy of every message: equal content, not shared identity, must give the same choice
      const copy = input.map((m) => ({ ...m, payload: Buffer.from(m.payload) }))
      const a = prune(input, { targetCount, maxTopics })
      const b = prune(copy, { targetCount, maxTopics })
      return isDeepStrictEqual(indicesOf(copy, b), indicesOf(input, a)) && isDeepStrictEqual({ ...b, kept: [] }, { ...a, kept: [] })
    }),
    runs,
  )
  t.pass()
})

// bounded state

test('pruneStep keeps its state bounded over a million messages on 5,000 topics', (t) => {
  const targetCount = 100
  const maxTopics = 1000
  const topics = Array.from({ length: 5000 }, (_, i) => `site/${i % 50}/dev${i}/${i % 3 === 0 ? 'state' : 'temp'}`)
  const payloads = [
    ...Array.from({ length: 64 }, (_, i) => Buffer.from((18 + i / 8).toFixed(2))),
    Buffer.from('{"temp":21.5,"hum":40,"bat":98}'),
    Buffer.from('{"state":"ON","linkquality":120}'),
    Buffer.from('online'),
    Buffer.from('{"level":"error","msg":"timeout"}'),
    Buffer.from([0x01, 0x02, 0xff]),
  ]
  const bound = 5 * targetCount + 2 * maxTopics
  let s = initialPrune({ targetCount, maxTopics })
  let maxCandidates = 0
  let maxIndex = 0
  const started = process.hrtime.bigint()
  for (let i = 0; i < 1_000_000; i++) {
    // a cheap scramble so topics, payloads and gaps do not march in step
    const h = Math.imul(i, 0x9e3779b1) >>> 0
    s = pruneStep(s, {
      topic: topics[h % topics.length]!,
      payload: payloads[(h >>> 13) % payloads.length]!,
      qos: 0,
      retain: false,
      receivedAt: 1_700_000_000_000 + Math.floor(i / 3),
    })
    if ((i & 0x3fff) === 0) {
      const size = pruneStateSize(s)
      maxCandidates = Math.max(maxCandidates, size.candidates)
      maxIndex = Math.max(maxIndex, size.index)
      t.true(size.topics <= maxTopics)
    }
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  const end = pruneStateSize(s)
  t.true(Math.max(maxCandidates, end.candidates) <= bound, `candidates ${maxCandidates}`)
  t.true(Math.max(maxIndex, end.index) <= bound, `index ${maxIndex}`)
  t.is(end.topics, maxTopics)
  const r = pruneResult(s)
  t.is(r.seen, 1_000_000)
  t.is(r.keptCount, targetCount)
  t.true(r.summary.length <= maxTopics + 1)
  t.log(`1M messages in ${ms.toFixed(0)} ms (${((ms * 1000) / 1_000_000).toFixed(2)} µs per message)`)
})
