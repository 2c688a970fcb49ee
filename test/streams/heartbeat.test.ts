import test from 'ava'
import fc from 'fast-check'
import {
  heartbeatOf,
  heartbeatsOf,
  heartbeatStateSize,
  heartbeatStep,
  initialHeartbeat,
  madOf,
  medianOf,
  missedInGap,
  missedInSilence,
  type HeartbeatOptions,
  type HeartbeatState,
} from '../../src/streams/heartbeat.js'
import type { Message } from '../../src/streams/types.js'

const T0 = Date.UTC(2025, 0, 1)
const PAYLOAD = Buffer.from('{"seq":1}')

const msg = (topic: string, at: number, retain = false): Message => ({ topic, payload: PAYLOAD, qos: 0, retain, receivedAt: at })

const beat = (times: readonly number[], topic = 'devices/x/heartbeat', opts?: HeartbeatOptions): HeartbeatState =>
  times.reduce((s, at) => heartbeatStep(s, msg(topic, at)), initialHeartbeat(opts))

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

// statistics

test('medianOf and madOf give the middle value and the median distance from a centre', (t) => {
  t.is(medianOf([3, 1, 2]), 2)
  t.is(medianOf([4, 1, 3, 2]), 2.5)
  t.true(Number.isNaN(medianOf([])))
  t.is(madOf([1, 2, 3, 4, 100], 3), 1)
})

test('missed beats count whole periods in gaps over 1.5 periods and in a silence that has not ended', (t) => {
  t.is(missedInGap(5000, 5000), 0)
  t.is(missedInGap(7400, 5000), 0)
  t.is(missedInGap(10_000, 5000), 1)
  t.is(missedInGap(16_000, 5000), 2)
  t.is(missedInGap(10_000, 0), 0)
  t.is(missedInSilence(7000, 5000), 0)
  t.is(missedInSilence(8000, 5000), 1)
  t.is(missedInSilence(21_000, 5000), 4)
})

// the reducer

test('a 5 s heartbeat with ±10% jitter on every gap is found within 10% of its period', (t) => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 8, max: 300 }), (seed, n) => {
      const random = uniform(seed)
      const times = [T0]
      for (let i = 1; i < n; i++) times.push(times[i - 1]! + 5000 * (0.9 + 0.2 * random()))
      const h = heartbeatOf(beat(times), 'devices/x/heartbeat', times[n - 1]!)!
      return (
        Math.abs(h.period_ms! - 5000) <= 500 && h.jitter_ms! <= 500 && h.periodic && h.missed_beats === 0 && h.messages === n
      )
    }),
  )
  t.pass()
})

test('a 5 s heartbeat whose ticks wander ±10% around a fixed schedule is found within 10% of its period', (t) => {
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const random = uniform(seed)
      const times = Array.from({ length: 60 }, (_, k) => T0 + k * 5000 + (random() - 0.5) * 1000)
      const h = heartbeatOf(beat(times), 'devices/x/heartbeat', times[59]! + 1000)!
      return Math.abs(h.period_ms! - 5000) <= 500 && h.periodic && h.missed_beats === 0
    }),
  )
  t.pass()
})

test('missed beats: long gaps count ⌊gap/period⌋ − 1 and the silence until now counts too', (t) => {
  // beats every 5 s, then two beats lost (a 15 s gap), then regular again
  const times = [0, 5, 10, 15, 30, 35, 40, 45].map((s) => T0 + s * 1000)
  const state = beat(times)
  const atEnd = heartbeatOf(state, 'devices/x/heartbeat', T0 + 45_000)!
  t.is(atEnd.period_ms, 5000)
  t.is(atEnd.missed_beats, 2)
  t.true(atEnd.periodic)
  // 21 s of silence after the last beat: 4 more are due and absent
  const later = heartbeatOf(state, 'devices/x/heartbeat', T0 + 66_000)!
  t.is(later.missed_beats, 6)
  t.is(later.silent_ms, 21_000)
})

test('retained replays are not beats', (t) => {
  const state = initialHeartbeat()
  heartbeatStep(state, msg('a', T0, true))
  for (const s of [10, 11, 12, 13]) heartbeatStep(state, msg('a', T0 + s * 1000))
  const h = heartbeatOf(state, 'a', T0 + 13_000)!
  t.is(h.messages, 4)
  t.is(h.period_ms, 1000)
  t.is(heartbeatOf(initialHeartbeat(), 'a', T0), undefined)
})

test('irregular topics are not periodic, and one message gives no period', (t) => {
  const random = uniform(7)
  const times = [T0]
  for (let i = 1; i < 50; i++) times.push(times[i - 1]! + 100 + random() * 20_000)
  const state = beat(times, 'sensors/motion')
  t.false(heartbeatOf(state, 'sensors/motion', times[49]!)!.periodic)
  // an availability topic flapping offline 1 s, online 5 s: two gaps alternate, the median is one of them
  const flaps = [0, 1, 6, 7, 12, 13, 18, 19].map((s) => T0 + s * 1000)
  t.false(heartbeatOf(beat(flaps, 'dev/availability'), 'dev/availability', T0 + 19_000)!.periodic)
  const once = heartbeatOf(beat([T0], 'x'), 'x', T0 + 60_000)!
  t.like(once, { messages: 1, period_ms: null, jitter_ms: null, missed_beats: 0, periodic: false, silent_ms: 60_000 })
})

test('gaps that left the ring still count their missed beats', (t) => {
  // a 3-period gap first, then 200 regular beats: the long gap left the 64-gap ring long ago
  const times = [T0, T0 + 15_000]
  for (let i = 1; i <= 200; i++) times.push(T0 + 15_000 + i * 5000)
  const h = heartbeatOf(beat(times), 'devices/x/heartbeat', times[times.length - 1]!)!
  t.is(h.period_ms, 5000)
  t.is(h.missed_beats, 2)
})

test('state stays bounded: 64 gaps per topic and at most maxTopics topics, however many messages', (t) => {
  const state = initialHeartbeat({ maxTopics: 100 })
  for (let i = 0; i < 1_000_000; i++) heartbeatStep(state, msg(`t/${i % 1000}`, T0 + i))
  t.deepEqual(heartbeatStateSize(state), { topics: 100, gapSlots: 100 * 64 })
  t.is(state.untracked, 900_000)
  const all = heartbeatsOf(state, T0 + 1_000_000)
  t.is(all.length, 100)
  t.is(all[0]!.period_ms, 1000)
  t.throws(() => initialHeartbeat({ ringSize: 0 }), { instanceOf: RangeError })
})
