import { isDeepStrictEqual } from 'node:util'
import test from 'ava'
import fc from 'fast-check'
import {
  deviceAnalysis,
  deviceErrors,
  deviceStateSize,
  deviceStep,
  deviceTimeline,
  ERROR_HEAD,
  ERROR_TAIL,
  hasLevel,
  initialDevice,
  MAX_CASE_HINTS,
  MAX_CHANGES,
  MAX_KEYS,
  MAX_TOPICS,
  MAX_VALUES,
  PARSE_LIMIT,
  roleOf,
  SCHEMA_SAMPLES,
  type DeviceRole,
  type DeviceState,
} from '../../src/streams/device.js'
import type { Message } from '../../src/streams/types.js'

const T0 = Date.UTC(2025, 0, 1)

const msg = (topic: string, payload: string | Buffer, at: number, retain = false): Message => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  qos: 0,
  retain,
  receivedAt: at,
})

const fold = (messages: readonly Message[], deviceId = 'pump', topicPattern?: string): DeviceState =>
  messages.reduce(deviceStep, initialDevice(deviceId, topicPattern))

/** Live messages on `topic` every `periodMs`, `n` of them from `start`. */
const beats = (topic: string, payload: string, start: number, periodMs: number, n: number): Message[] =>
  Array.from({ length: n }, (_, k) => msg(topic, payload, start + k * periodMs))

const noHints = { availability: false, periodic: false }

/** Everything the state and its analysis say, as plain data (the state itself holds closures). */
function snapshot(s: DeviceState, now: number): unknown {
  const a = deviceAnalysis(s, now)
  return {
    seen: s.seen,
    matched: s.matched,
    untracked: s.untrackedMessages,
    topics: [...s.topics].map(([topic, d]) => ({ topic, ...d, kinds: [...d.kinds].sort(), keys: [...d.keys] })),
    values: [...s.values],
    changes: s.changes,
    changeCount: s.changeCount,
    errors: deviceErrors(s).map((m) => [m.topic, m.payload.toString('utf8'), m.receivedAt]),
    errorCount: s.errorCount,
    caseHints: [...s.caseHints],
    availability: a.availability,
    heartbeats: a.heartbeats,
    roles: [...a.roles],
    timeline: deviceTimeline(s, a),
    size: deviceStateSize(s),
  }
}

// matching

test('a topic is the device\'s when the id is a whole level of it, anywhere', (t) => {
  const yes = ['pump', 'tele/pump/STATE', 'zigbee2mqtt/pump', 'pump/temperature', 'homeassistant/switch/pump/config', 'devices/pump/temp']
  const no = ['pumpkin/x', 'tele/pump2/STATE', 'tele/my_pump/x', 'tele/PUMP/STATE', 'zigbee2mqtt/pump_house']
  for (const topic of yes) t.true(hasLevel(topic, 'pump'), topic)
  for (const topic of no) t.false(hasLevel(topic, 'pump'), topic)
  // an id with / spans consecutive levels
  t.true(hasLevel('home/kitchen/light/state', 'kitchen/light'))
  t.false(hasLevel('home/kitchen/lights/state', 'kitchen/light'))
})

test('deviceStep counts every message as seen and tracks only the device\'s topics', (t) => {
  const s = fold([
    msg('tele/pump/SENSOR', '{"Temp":21.5}', T0),
    msg('tele/pump2/SENSOR', '{"Temp":30}', T0 + 1),
    msg('zigbee2mqtt/pump', '{"state":"ON"}', T0 + 2),
    msg('pumpkin/status', 'online', T0 + 3),
  ])
  t.is(s.seen, 4)
  t.is(s.matched, 2)
  t.deepEqual([...s.topics.keys()].sort(), ['tele/pump/SENSOR', 'zigbee2mqtt/pump'])
  t.is(s.availability.topics.size, 0, 'pumpkin/status is not fed to the availability reducer')
})

test('with a topic pattern every message is the device\'s and no case hints are kept', (t) => {
  const s = fold([msg('home/kitchen/light/state', 'ON', T0), msg('home/kitchen/PUMP/x', '1', T0 + 1)], 'pump', 'home/kitchen/#')
  t.is(s.matched, 2)
  t.is(s.caseHints.size, 0)
  t.is(s.looselyMatches, undefined)
})

test('topics with the id in another case are kept as hints, at most MAX_CASE_HINTS, and only until the id matches', (t) => {
  const variants = Array.from({ length: MAX_CASE_HINTS + 3 }, (_, k) => msg(`tele/PUMP/v${k}`, '1', T0 + k))
  const s = fold([...variants, msg('tele/Pump/other', '1', T0 + 100)])
  t.is(s.matched, 0)
  t.deepEqual([...s.caseHints], variants.slice(0, MAX_CASE_HINTS).map((m) => m.topic))

  const matchedFirst = fold([msg('tele/pump/x', '1', T0), msg('tele/PUMP/y', '1', T0 + 1)])
  t.is(matchedFirst.caseHints.size, 0, 'an exact match makes hints pointless')
})

// roles

test('roleOf applies availability, command, config, state, telemetry in that order', (t) => {
  const cases: Array<[string, DeviceRole]> = [
    ['tele/pump/LWT', 'availability'],
    ['devices/pump/availability', 'availability'],
    ['devices/pump/connection', 'availability'],
    ['cmnd/pump/POWER', 'command'],
    ['zigbee2mqtt/pump/set', 'command'],
    ['devices/pump/commands', 'command'],
    ['homeassistant/switch/pump/config', 'config'],
    ['tele/pump/INFO1', 'config'],
    ['devices/pump/settings', 'config'],
    ['stat/pump/RESULT', 'state'],
    ['stat/pump/anything', 'state'],
    ['tele/pump/STATE', 'state'],
    ['devices/pump/POWER2', 'state'],
    ['zigbee2mqtt/pump', 'state'],
    ['tele/pump/SENSOR', 'telemetry'],
    ['tele/pump/anything', 'telemetry'],
    ['devices/pump/readings', 'telemetry'],
    ['devices/pump/uptime', 'other'],
    ['devices/pump', 'state'],
    ['pump/notes', 'other'],
  ]
  for (const [topic, role] of cases) t.is(roleOf(topic, 'pump', noHints), role, topic)
})

test('roleOf trusts the traffic where names say nothing: a recognised availability topic, a periodic one', (t) => {
  t.is(roleOf('devices/pump/status', 'pump', noHints), 'state')
  t.is(roleOf('devices/pump/status', 'pump', { availability: true, periodic: false }), 'availability')
  t.is(roleOf('devices/pump/uptime', 'pump', { availability: false, periodic: true }), 'telemetry')
  // a name that says more wins over periodicity
  t.is(roleOf('devices/pump/set', 'pump', { availability: false, periodic: true }), 'command')
})

test('deviceAnalysis gives each tracked topic its role from names, availability payloads and heartbeats', (t) => {
  const s = fold([
    msg('devices/pump/status', 'online', T0, true),
    msg('stat/pump/STATUS', '{"Status":{"Module":1}}', T0 + 1),
    msg('cmnd/pump/POWER', 'TOGGLE', T0 + 2),
    msg('homeassistant/switch/pump/config', '{"name":"Pump"}', T0 + 3, true),
    msg('tele/pump/SENSOR', '{"Temp":21.5}', T0 + 4),
    ...beats('devices/pump/uptime', '42', T0, 5000, 6),
    msg('devices/pump/notes', 'hello', T0 + 5),
  ])
  const a = deviceAnalysis(s, T0 + 25_000)
  t.deepEqual(Object.fromEntries(a.roles), {
    'devices/pump/status': 'availability',
    'stat/pump/STATUS': 'state',
    'cmnd/pump/POWER': 'command',
    'homeassistant/switch/pump/config': 'config',
    'tele/pump/SENSOR': 'telemetry',
    'devices/pump/uptime': 'telemetry',
    'devices/pump/notes': 'other',
  })
  t.deepEqual(a.availability.map((r) => r.topic), ['devices/pump/status'])
  t.deepEqual(a.heartbeats.map((h) => h.topic), ['devices/pump/uptime'], 'only periodic topics are heartbeats')
  t.is(a.heartbeats[0]!.period_ms, 5000)
})

// topics and shapes

test('retained replays mark a topic retained without counting as messages; last seen is the latest time', (t) => {
  const s = fold([msg('tele/pump/STATE', '{"POWER":"ON"}', T0 + 50, true), msg('tele/pump/STATE', '{"POWER":"ON"}', T0 + 100), msg('tele/pump/STATE', '{"POWER":"ON"}', T0 + 70)])
  const d = s.topics.get('tele/pump/STATE')!
  t.is(d.messages, 2)
  t.true(d.retained)
  t.is(d.lastSeen, T0 + 100)
})

test('payload kinds and JSON keys are recorded from the first SCHEMA_SAMPLES messages, at most MAX_KEYS keys', (t) => {
  const wide = JSON.stringify(Object.fromEntries(Array.from({ length: MAX_KEYS + 10 }, (_, k) => [`k${k}`, k])))
  const s = fold([
    msg('devices/pump/data', wide, T0),
    ...Array.from({ length: SCHEMA_SAMPLES - 1 }, (_, k) => msg('devices/pump/data', '{"k0":1}', T0 + 1 + k)),
    msg('devices/pump/data', '{"late":1}', T0 + 100),
    msg('devices/pump/data', 'plain text', T0 + 101),
    msg('devices/pump/kinds', '', T0),
    msg('devices/pump/kinds', '21.5', T0 + 1),
    msg('devices/pump/kinds', 'ON', T0 + 2),
    msg('devices/pump/kinds', Buffer.from([0xff, 0xfe, 0x00]), T0 + 3),
  ])
  const data = s.topics.get('devices/pump/data')!
  t.is(data.keys.size, MAX_KEYS)
  t.deepEqual([...data.keys], Array.from({ length: MAX_KEYS }, (_, k) => `k${k}`))
  t.false(data.keys.has('late'), 'keys after SCHEMA_SAMPLES messages are not sampled')
  t.deepEqual([...data.kinds], ['json'], 'kinds after SCHEMA_SAMPLES messages are not sampled')
  t.is(data.messages, SCHEMA_SAMPLES + 2)
  t.deepEqual([...s.topics.get('devices/pump/kinds')!.kinds].sort(), ['binary', 'empty', 'number', 'text'])
})

test('payloads over PARSE_LIMIT are classified by size only: no keys, no state values', (t) => {
  const big = JSON.stringify({ state: 'ON', pad: 'x'.repeat(PARSE_LIMIT) })
  const s = fold([msg('zigbee2mqtt/pump', big, T0), msg('zigbee2mqtt/pump', big.replace('"ON"', '"OFF"'), T0 + 1)])
  const d = s.topics.get('zigbee2mqtt/pump')!
  t.deepEqual([...d.kinds], ['text'])
  t.is(d.keys.size, 0)
  t.is(s.values.size, 0)
  t.is(s.changeCount, 0)
})

// state values and changes

test('a plain state value that changes is a change; the first value and repeats are not', (t) => {
  const s = fold(['ON', 'ON', ' OFF ', 'OFF', 'ON'].map((p, k) => msg('stat/pump/POWER', p, T0 + k * 1000)))
  t.is(s.changeCount, 2)
  t.deepEqual(s.changes, [
    { at: T0 + 2000, topic: 'stat/pump/POWER', key: null, from: 'ON', to: 'OFF' },
    { at: T0 + 4000, topic: 'stat/pump/POWER', key: null, from: 'OFF', to: 'ON' },
  ])
})

test('state-like JSON keys are tracked per topic and key; measurements and other keys are not', (t) => {
  const s = fold([
    msg('tele/pump/STATE', '{"POWER":"ON","Uptime":"1T00:00","mode":"auto","running":true,"relay1":1,"state":21.5}', T0),
    msg('tele/pump/STATE', '{"POWER":"OFF","Uptime":"1T00:01","mode":"auto","running":false,"relay1":0,"state":22.5}', T0 + 1000),
    msg('zigbee2mqtt/pump', '{"POWER":"OFF"}', T0 + 2000),
  ])
  t.deepEqual(
    s.changes.map((c) => [c.topic, c.key, c.from, c.to]),
    [
      ['tele/pump/STATE', 'POWER', 'ON', 'OFF'],
      ['tele/pump/STATE', 'running', 'true', 'false'],
      ['tele/pump/STATE', 'relay1', '1', '0'],
    ],
  )
  t.true(s.values.has('zigbee2mqtt/pump\u0000POWER'), 'the same key on another topic is a value of its own')
})

test('plain values count only on state-named topics and only when short', (t) => {
  const s = fold([
    msg('devices/pump/temperature', '21', T0),
    msg('devices/pump/temperature', '22', T0 + 1),
    msg('devices/pump/state', 'a'.repeat(65), T0 + 2),
    msg('devices/pump/state', 'b'.repeat(65), T0 + 3),
    msg('devices/pump/state', 'heating', T0 + 4),
    msg('devices/pump/state', 'idle', T0 + 5),
  ])
  t.deepEqual(s.changes.map((c) => [c.topic, c.from, c.to]), [['devices/pump/state', 'heating', 'idle']])
})

test('availability payloads are transitions, never values or errors', (t) => {
  // a status topic is state-named too: its online|offline must still not become values
  const s = fold([msg('devices/pump/status', 'online', T0, true), msg('devices/pump/status', 'offline', T0 + 10_000), msg('devices/pump/status', 'online', T0 + 20_000)])
  t.is(s.values.size, 0)
  t.is(s.changeCount, 0)
  t.is(s.errorCount, 0, '"offline" is an error word but here an availability value')
  const a = deviceAnalysis(s, T0 + 20_000)
  t.deepEqual(a.availability[0]!.transitions, [
    { at: T0 + 10_000, from: 'online', to: 'offline' },
    { at: T0 + 20_000, from: 'offline', to: 'online' },
  ])
})

test('the timeline merges availability transitions and value changes in time order and counts them all', (t) => {
  const s = fold([
    msg('tele/pump/LWT', 'Online', T0, true),
    msg('stat/pump/POWER', 'ON', T0 + 1000),
    msg('stat/pump/POWER', 'OFF', T0 + 3000),
    msg('tele/pump/LWT', 'Offline', T0 + 2000),
    msg('tele/pump/LWT', 'Online', T0 + 4000),
  ])
  const timeline = deviceTimeline(s, deviceAnalysis(s, T0 + 5000))
  t.is(timeline.total, 3)
  t.deepEqual(
    timeline.entries.map((e) => [e.at - T0, e.kind, e.topic, e.key, e.from, e.to]),
    [
      [2000, 'availability', 'tele/pump/LWT', null, 'online', 'offline'],
      [3000, 'value', 'stat/pump/POWER', null, 'ON', 'OFF'],
      [4000, 'availability', 'tele/pump/LWT', null, 'offline', 'online'],
    ],
  )
})

// errors

test('error-looking messages keep the first ERROR_HEAD and the latest ERROR_TAIL, in arrival order, and count all', (t) => {
  const n = ERROR_HEAD + ERROR_TAIL + 10
  const s = fold([
    ...Array.from({ length: n }, (_, k) => msg('devices/pump/log', `ERROR: fault ${k}`, T0 + k)),
    msg('devices/pump/log', 'all good', T0 + n),
  ])
  t.is(s.errorCount, n)
  const kept = deviceErrors(s).map((m) => m.payload.toString('utf8'))
  t.deepEqual(kept, [
    ...Array.from({ length: ERROR_HEAD }, (_, k) => `ERROR: fault ${k}`),
    ...Array.from({ length: ERROR_TAIL }, (_, k) => `ERROR: fault ${n - ERROR_TAIL + k}`),
  ])
})

test('a few errors are all kept, and ordinary messages are not errors', (t) => {
  const s = fold([
    msg('stat/pump/RESULT', '{"POWER":"ON"}', T0),
    msg('stat/pump/RESULT', '{"error":"timeout"}', T0 + 1),
    msg('devices/pump/alarm', '1', T0 + 2),
    msg('tele/pump/SENSOR', '{"Temp":21.5}', T0 + 3),
  ])
  t.is(s.errorCount, 2)
  t.deepEqual(deviceErrors(s).map((m) => m.receivedAt - T0), [1, 2])
})

// bounds

test('only MAX_TOPICS topics are tracked; messages on later ones are counted, tracked ones keep counting', (t) => {
  const messages = Array.from({ length: MAX_TOPICS + 100 }, (_, k) => msg(`devices/pump/t${k}`, '1', T0 + k))
  const s = fold([...messages, msg('devices/pump/t0', '2', T0 + 10_000), msg(`devices/pump/t${MAX_TOPICS}`, '2', T0 + 10_001)])
  t.is(s.topics.size, MAX_TOPICS)
  t.is(s.untrackedMessages, 101)
  t.is(s.topics.get('devices/pump/t0')!.messages, 2)
  t.false(s.topics.has(`devices/pump/t${MAX_TOPICS}`))
  t.is(s.matched, MAX_TOPICS + 102)
})

test('only MAX_VALUES values are remembered and only the latest MAX_CHANGES changes are kept', (t) => {
  const keys = MAX_VALUES + 100
  const on = Array.from({ length: keys }, (_, k) => msg('tele/pump/STATE', `{"POWER${k}":"ON"}`, T0 + k))
  const off = Array.from({ length: keys }, (_, k) => msg('tele/pump/STATE', `{"POWER${k}":"OFF"}`, T0 + keys + k))
  const s = fold([...on, ...off])
  t.is(s.values.size, MAX_VALUES)
  t.is(s.changeCount, MAX_VALUES, 'a key first seen beyond MAX_VALUES never changes')
  t.is(s.changes.length, MAX_CHANGES)
  t.is(s.changes[0]!.key, `POWER${MAX_VALUES - MAX_CHANGES}`)
  t.is(s.changes[MAX_CHANGES - 1]!.key, `POWER${MAX_VALUES - 1}`)
})

test('the state stays bounded over many messages on many topics', (t) => {
  const random = uniform(7)
  const s = initialDevice('pump')
  for (let k = 0; k < 40_000; k++) {
    const topic = `devices/pump/t${Math.floor(random() * 2000)}/state`
    const wide = `{"state":"${random() < 0.5 ? 'ON' : 'OFF'}","k${k % 50}":1,"power${k % 700}":${k % 3}}`
    const payload = random() < 0.1 ? `ERROR ${k}` : wide
    deviceStep(s, msg(topic, payload, T0 + k * 10))
    if (k % 5 === 0) deviceStep(s, msg(`tele/PUMP/x${k}`, '1', T0 + k * 10))
  }
  const size = deviceStateSize(s)
  t.true(size.topics <= MAX_TOPICS)
  t.true(Math.max(...[...s.topics.values()].map((d) => d.keys.size)) <= MAX_KEYS)
  t.is(size.values, MAX_VALUES)
  t.is(size.changes, MAX_CHANGES)
  t.is(size.errors, ERROR_HEAD + ERROR_TAIL)
  t.true(size.caseHints <= MAX_CASE_HINTS)
  t.true(s.availability.topics.size <= MAX_TOPICS)
  t.true(s.heartbeat.topics.size <= MAX_TOPICS)
  t.true(s.changeCount > MAX_CHANGES && s.errorCount > ERROR_HEAD + ERROR_TAIL, 'the counts go on past what is kept')
})

// determinism

test('the same messages give the same state and analysis, timed by receivedAt alone', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          topic: fc.constantFrom('tele/pump/LWT', 'stat/pump/POWER', 'tele/pump/STATE', 'devices/pump/log', 'other/x', 'tele/Pump/y'),
          payload: fc.constantFrom('Online', 'Offline', 'ON', 'OFF', '{"POWER":"ON"}', '{"POWER":"OFF","Temp":21.5}', 'ERROR x', ''),
          gap: fc.integer({ min: 0, max: 10_000 }),
          retain: fc.boolean(),
        }),
        { maxLength: 200 },
      ),
      (steps) => {
        let at = T0
        const messages = steps.map((x) => msg(x.topic, x.payload, (at += x.gap), x.retain))
        const now = at + 1000
        const s = fold(messages)
        if (!isDeepStrictEqual(snapshot(s, now), snapshot(fold(messages), now))) return false
        // times come from the messages, never from a clock (T0 is long past)
        const latest = new Map<string, number>()
        for (const m of messages) latest.set(m.topic, Math.max(latest.get(m.topic) ?? 0, m.receivedAt))
        const times = new Set(messages.map((m) => m.receivedAt))
        return [...s.topics].every(([topic, d]) => d.lastSeen === latest.get(topic)) && s.changes.every((c) => times.has(c.at))
      },
    ),
    { numRuns: 100 },
  )
  t.pass()
})

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
