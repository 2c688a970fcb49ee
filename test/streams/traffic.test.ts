import test from 'ava'
import fc from 'fast-check'
import {
  countAbove,
  emptyHistogram,
  HISTOGRAM_ALPHA,
  initialTraffic,
  MAX_BUCKETS,
  quantile,
  record,
  trafficStateSize,
  trafficStep,
  trafficView,
  type LogHistogram,
  type TrafficState,
} from '../../src/streams/traffic.js'
import type { Message } from '../../src/streams/types.js'

const T0 = Date.UTC(2025, 0, 1)

const msg = (topic: string, payload: string | Buffer, at: number, retain = false): Message => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  qos: 0,
  retain,
  receivedAt: at,
})

const run = (messages: readonly Message[], startedAt = T0): TrafficState =>
  messages.reduce(trafficStep, initialTraffic({ startedAt }))

/** A deterministic uniform source in [0, 1) (mulberry32). */
function uniform(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const histogramOf = (values: readonly number[]): LogHistogram => {
  const h = emptyHistogram()
  for (const v of values) record(h, v)
  return h
}

/** The exact nearest-rank quantile. */
const exact = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!
}

const within = (actual: number, expected: number, relative: number): boolean => Math.abs(actual - expected) <= relative * Math.abs(expected) + 1e-9

// the histogram

test('histogram quantiles are within 1% of the exact nearest-rank value on any data within its range', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.double({ min: 1, max: 20_000, noNaN: true })), { minLength: 1, maxLength: 500 }),
      fc.constantFrom(0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1),
      (values, q) => within(quantile(histogramOf(values), q), exact(values, q), HISTOGRAM_ALPHA),
    ),
  )
  t.pass()
})

test('percentiles of known distributions: uniform, constant, exponential, with zeros', (t) => {
  const uniformValues = Array.from({ length: 10_000 }, (_, i) => i + 1)
  const u = histogramOf(uniformValues)
  t.true(within(quantile(u, 0.5), 5000, 0.01))
  t.true(within(quantile(u, 0.95), 9500, 0.01))
  t.is(quantile(u, 0), 1)
  t.is(quantile(u, 1), 10_000)

  const c = histogramOf(Array.from({ length: 1000 }, () => 256))
  t.deepEqual([quantile(c, 0.5), quantile(c, 0.95), c.min, c.max], [256, 256, 256, 256])

  // exponential with mean 100: median 100·ln 2, p95 100·ln 20
  const random = uniform(42)
  const e = histogramOf(Array.from({ length: 100_000 }, () => -100 * Math.log(1 - random())))
  t.true(within(quantile(e, 0.5), 100 * Math.LN2, 0.03))
  t.true(within(quantile(e, 0.95), 100 * Math.log(20), 0.03))

  const z = histogramOf([0, 0, 0, 5, 10])
  t.is(quantile(z, 0.5), 0)
  t.true(within(quantile(z, 0.8), 5, 0.01))
  t.true(Number.isNaN(quantile(emptyHistogram(), 0.5)))
  t.is(countAbove(z, 4), 2)
})

test('the histogram keeps at most MAX_BUCKETS buckets; the top of a very wide range stays accurate', (t) => {
  const values: number[] = []
  for (let e = -3; e <= 9; e += 0.001) values.push(10 ** e)
  const h = histogramOf(values)
  t.true(h.counts.length <= MAX_BUCKETS)
  t.true(within(quantile(h, 0.95), exact(values, 0.95), 0.01))
  t.true(within(quantile(h, 0.99), exact(values, 0.99), 0.01))
  t.is(h.min, 1e-3)
  t.is(h.max, values[values.length - 1]!)
  // the same values in a random order: growing down and up both stay within the bound
  const random = uniform(3)
  const shuffled = [...values]
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
  }
  const s = histogramOf(shuffled)
  t.true(s.counts.length <= MAX_BUCKETS)
  t.is(s.total, values.length)
  t.true(within(quantile(s, 0.95), exact(values, 0.95), 0.01))
  // ranks more than 512 buckets (28,000×) below the largest value were merged: there the answer is only a floor
  t.true(quantile(s, 0.5) >= exact(values, 0.5))
})

// rates, sizes and gaps

test('rates are within 5% of a known publish rate (10..200 msg/s, 10..120 s) with jittered arrivals', (t) => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 10, max: 200 }), fc.integer({ min: 10, max: 120 }), (seed, rate, seconds) => {
      const random = uniform(seed)
      const period = 1000 / rate
      const messages: Message[] = []
      // the publisher runs before and after the window: only what falls inside it counts
      for (let k = 0; k * period < seconds * 1000; k++) {
        const at = T0 + k * period + (random() - 0.5) * period * 0.5
        if (at >= T0 && at < T0 + seconds * 1000) messages.push(msg('sensors/a', 'x'.repeat(100), at))
      }
      const view = trafficView(run(messages), T0 + seconds * 1000)
      const topic = view.per_topic[0]!
      return (
        within(view.overall.messages_per_second, rate, 0.05) &&
        within(topic.messages_per_second, rate, 0.05) &&
        within(topic.bytes_per_second, rate * 100, 0.05) &&
        within(topic.inter_arrival_ms!.p50, period, 0.1)
      )
    }),
  )
  t.pass()
})

test('per-topic figures: sizes, gaps and jitter on known inputs, busiest topic first', (t) => {
  const messages: Message[] = []
  // fast: every 100 ms, payloads of 10..109 bytes; slow: every second, gaps alternating 900 / 1100 ms
  for (let i = 0; i < 100; i++) messages.push(msg('fast', 'y'.repeat(10 + i), T0 + i * 100))
  for (let i = 0; i < 10; i++) messages.push(msg('slow', '1', T0 + i * 1000 + (i % 2 === 1 ? -100 : 0)))
  messages.sort((a, b) => a.receivedAt - b.receivedAt)
  const view = trafficView(run(messages), T0 + 10_000)
  t.deepEqual(view.per_topic.map((f) => f.topic), ['fast', 'slow'])
  const fast = view.per_topic[0]!
  t.like(fast, { messages: 100, messages_per_second: 10, bytes: 5950, bytes_per_second: 595, duplicates: 0, first_at: T0, last_at: T0 + 9900 })
  t.is(fast.size_bytes!.min, 10)
  t.is(fast.size_bytes!.max, 109)
  t.true(Math.abs(fast.size_bytes!.p50 - 59) <= 1)
  t.true(Math.abs(fast.size_bytes!.p95 - 104) <= 1)
  t.true(within(fast.inter_arrival_ms!.p50, 100, 0.01))
  t.true(fast.jitter_ms! <= 2)
  const slow = view.per_topic[1]!
  t.true(within(slow.inter_arrival_ms!.p95, 1100, 0.01))
  t.true(within(slow.jitter_ms!, 200, 0.1))
  t.is(view.overall.messages, 110)
  t.is(view.overall.messages_per_second, 11)
})

test('retained replays are not traffic, but count as a topic seen and as the previous payload', (t) => {
  const view = trafficView(
    run([msg('cfg', '{"a":1}', T0, true), msg('state', 'on', T0, true), msg('state', 'on', T0 + 500), msg('state', 'off', T0 + 900)]),
    T0 + 10_000,
  )
  t.like(view.overall, { messages: 2, retained: 2, duplicates: 1 })
  const cfg = view.per_topic.find((f) => f.topic === 'cfg')!
  t.like(cfg, { messages: 0, retained: 1, size_bytes: null, inter_arrival_ms: null, jitter_ms: null, messages_per_second: 0 })
})

// bursts

test('a second with more than 3 × the median per-second count is a burst', (t) => {
  const messages: Message[] = []
  for (let s = 0; s < 60; s++) {
    const n = s === 30 ? 100 : 10
    for (let i = 0; i < n; i++) messages.push(msg('sensors/a', String(i), T0 + s * 1000 + (i * 1000) / n))
  }
  const view = trafficView(run(messages), T0 + 60_000)
  t.deepEqual(view.overall.bursts, [{ at: T0 + 30_000, messages: 100 }])
  t.is(view.overall.burst_seconds, 1)
  t.deepEqual(view.per_topic[0]!.bursts, [{ at: T0 + 30_000, messages: 100 }])
  // 30 per second (exactly 3 ×) is no burst
  const edge = messages.filter((m) => m.receivedAt < T0 + 30_000 || m.receivedAt >= T0 + 31_000)
  for (let i = 0; i < 30; i++) edge.push(msg('sensors/a', 'x', T0 + 30_000 + i * 33))
  edge.sort((a, b) => a.receivedAt - b.receivedAt)
  t.deepEqual(trafficView(run(edge), T0 + 60_000).overall.bursts, [])
})

test('a quiet topic bursts at 4 messages in one second; a steady one never does', (t) => {
  const messages = [msg('door', 'open', T0 + 1000)]
  for (let i = 0; i < 4; i++) messages.push(msg('door', String(i), T0 + 20_000 + i * 10))
  for (let s = 0; s < 60; s++) messages.push(msg('steady', 'x', T0 + s * 1000 + 500))
  messages.sort((a, b) => a.receivedAt - b.receivedAt)
  const view = trafficView(run(messages), T0 + 60_000)
  const door = view.per_topic.find((f) => f.topic === 'door')!
  t.deepEqual(door.bursts, [{ at: T0 + 20_000, messages: 4 }])
  t.deepEqual(view.per_topic.find((f) => f.topic === 'steady')!.bursts, [])
  t.is(view.per_topic.find((f) => f.topic === 'steady')!.burst_seconds, 0)
})

test('the burst in the still-open last second is found too', (t) => {
  const messages: Message[] = []
  for (let s = 0; s < 9; s++) messages.push(msg('a', 'x', T0 + s * 1000))
  for (let i = 0; i < 50; i++) messages.push(msg('a', 'x', T0 + 9000 + i))
  t.deepEqual(trafficView(run(messages), T0 + 10_000).overall.bursts, [{ at: T0 + 9000, messages: 50 }])
})

// duplicates

test('duplicates are payloads equal to the previous one on the same topic, small or large', (t) => {
  const big = Buffer.alloc(5000, 7)
  const bigOther = Buffer.alloc(5000, 7)
  bigOther[4999] = 8
  const view = trafficView(
    run([
      msg('a', '21.5', T0),
      msg('b', '21.5', T0 + 1),
      msg('a', '21.5', T0 + 2),
      msg('a', '21.6', T0 + 3),
      msg('a', '21.5', T0 + 4),
      msg('a', '21.5', T0 + 5),
      msg('a', '', T0 + 6),
      msg('a', '', T0 + 7),
      msg('c', big, T0 + 8),
      msg('c', Buffer.from(big), T0 + 9),
      msg('c', bigOther, T0 + 10),
      msg('c', 'short', T0 + 11),
      msg('c', 'short', T0 + 12),
    ]),
    T0 + 1000,
  )
  t.deepEqual(Object.fromEntries(view.per_topic.map((f) => [f.topic, f.duplicates])), { a: 3, b: 0, c: 2 })
  t.is(view.overall.duplicates, 5)
})

// silent topics

test('silent topics: overdue after 3 periods, quiet without a period, retained-only', (t) => {
  const messages: Message[] = [msg('cfg', '{}', T0, true), msg('once-early', '1', T0 + 1000), msg('once-late', '1', T0 + 50_000)]
  for (let s = 0; s < 20; s++) messages.push(msg('stopped', 'x', T0 + s * 1000))
  for (let s = 0; s < 60; s++) messages.push(msg('alive', 'x', T0 + s * 1000))
  for (let s = 0; s < 3; s++) messages.push(msg('slow', 'x', T0 + s * 20_000))
  messages.sort((a, b) => a.receivedAt - b.receivedAt)
  const view = trafficView(run(messages), T0 + 60_000)
  t.deepEqual(
    view.silent_topics.map((s) => [s.topic, s.reason, s.silent_ms, s.period_ms]),
    [
      ['stopped', 'overdue', 41_000, 1000],
      ['once-early', 'quiet', 59_000, null],
      ['cfg', 'retained_only', 60_000, null],
    ],
  )
})

// bounds

test('state stays bounded after 1,000,000 messages over 5,000 topics; the rest is summed', (t) => {
  const payloads = Array.from({ length: 16 }, (_, i) => Buffer.alloc(20 + i * 50, i))
  const state = initialTraffic({ startedAt: T0 })
  const random = uniform(1)
  let at = T0
  for (let i = 0; i < 1_000_000; i++) {
    at += random() * 2
    trafficStep(state, { topic: `fleet/${i % 5000}/telemetry`, payload: payloads[i % 16]!, qos: 0, retain: false, receivedAt: at })
  }
  const size = trafficStateSize(state)
  t.is(size.topics, 1000)
  t.true(size.buckets <= (1000 + 2) * 3 * MAX_BUCKETS)
  // a few KB a topic at most
  t.true(size.bytes < 1002 * 8 * 1024, `${size.bytes} bytes`)
  const view = trafficView(state, at)
  t.is(view.per_topic.length, 1000)
  t.is(view.overall.messages, 1_000_000)
  t.is(view.other!.messages, 800_000)
  t.is(view.per_topic.reduce((n, f) => n + f.messages, 0) + view.other!.messages, 1_000_000)
  t.true(within(view.overall.messages_per_second, 1000, 0.02))
})

test('initialTraffic refuses limits outside the contract', (t) => {
  t.throws(() => initialTraffic({ startedAt: T0, maxTopics: 0 }), { instanceOf: RangeError })
  t.throws(() => initialTraffic({ startedAt: Number.NaN }), { instanceOf: RangeError })
  const empty = trafficView(initialTraffic({ startedAt: T0 }), T0 + 5000)
  t.like(empty.overall, { messages: 0, messages_per_second: 0, size_bytes: null, bursts: [], burst_seconds: 0 })
  t.deepEqual(empty.per_topic, [])
  t.is(empty.other, null)
})
