import test from 'ava'
import {
  availabilityOf,
  availabilityReports,
  availabilityStep,
  initialAvailability,
  isAvailabilityName,
  parseAvailability,
  type AvailabilityOptions,
  type AvailabilityState,
} from '../../src/streams/availability.js'
import type { Message } from '../../src/streams/types.js'

const T0 = Date.UTC(2025, 0, 1)

const msg = (topic: string, payload: string, at: number, retain = false): Message => ({
  topic,
  payload: Buffer.from(payload),
  qos: 0,
  retain,
  receivedAt: at,
})

const run = (messages: readonly Message[], opts?: AvailabilityOptions): AvailabilityState =>
  messages.reduce(availabilityStep, initialAvailability(opts))

// classification

test('availability topics are named by their last level, in any case, alone or as a word', (t) => {
  for (const topic of [
    'tele/tasmota_pool_pump/LWT',
    'zigbee2mqtt/bulb/availability',
    'homeassistant/sensor/esp/availability',
    'devices/garage-door/availability',
    'zigbee2mqtt/bridge/state',
    'plant/gateway/status',
    'shelly/plug/online',
    'esp/node1/connected',
    'things/x/bridge_state',
    'things/x/Available',
  ]) {
    t.true(isAvailabilityName(topic), topic)
  }
  for (const topic of ['sensors/temp', 'devices/x/heartbeat', 'tele/x/SENSOR', 'status/report', 'devices/statusbar', 'x/stateful']) {
    t.false(isAvailabilityName(topic), topic)
  }
})

test('payloads say online or offline in every common spelling, or nothing', (t) => {
  for (const p of ['online', 'Online', ' ONLINE\n', 'connected', 'true', '1', 'available', '"online"', '{"state":"online"}', '{"status":"connected"}', '{"online":true}', 'true']) {
    t.is(parseAvailability(Buffer.from(p)), 'online', p)
  }
  for (const p of ['offline', 'Offline', 'disconnected', 'false', '0', 'unavailable', '{"state":"offline"}', '{"status":"offline"}', '{"connected":false}']) {
    t.is(parseAvailability(Buffer.from(p)), 'offline', p)
  }
  for (const p of ['', 'running', 'ON', '2', '{"state":"heating"}', '{"temp":21.5}', '[1]', '{"state":', 'x'.repeat(300)]) {
    t.is(parseAvailability(Buffer.from(p)), undefined, p)
  }
})

// the reducer

test('a retained online is the initial state and the Last Will offline is a transition', (t) => {
  const state = run([
    msg('devices/dev-1/availability', 'online', T0, true),
    msg('devices/dev-1/availability', 'offline', T0 + 5000),
  ])
  const a = availabilityOf(state, 'devices/dev-1/availability')!
  t.like(a, { state: 'offline', raw: 'offline', since: T0 + 5000, initial: { state: 'online', at: T0, retained: true }, transition_count: 1 })
  t.deepEqual(a.transitions, [{ at: T0 + 5000, from: 'online', to: 'offline' }])
})

test('Tasmota LWT, Zigbee2MQTT JSON and boolean availability each track their transitions; repeats are not transitions', (t) => {
  const state = run([
    msg('tele/plug/LWT', 'Online', T0, true),
    msg('zigbee2mqtt/bulb/availability', '{"state":"online"}', T0, true),
    msg('esp/node/connected', 'true', T0 + 1),
    msg('tele/plug/LWT', 'Online', T0 + 1000),
    msg('tele/plug/LWT', 'Offline', T0 + 2000),
    msg('zigbee2mqtt/bulb/availability', '{"state":"offline"}', T0 + 3000),
    msg('esp/node/connected', 'false', T0 + 4000),
    msg('tele/plug/LWT', 'Online', T0 + 5000),
    msg('esp/node/connected', '0', T0 + 6000),
  ])
  const reports = availabilityReports(state)
  t.deepEqual(
    reports.map((r) => [r.topic, r.state, r.transitions.map((x) => `${x.from}→${x.to}`).join(',')]),
    [
      ['esp/node/connected', 'offline', 'online→offline'],
      ['tele/plug/LWT', 'online', 'online→offline,offline→online'],
      ['zigbee2mqtt/bulb/availability', 'offline', 'online→offline'],
    ],
  )
  t.like(reports[0], { initial: { state: 'online', at: T0 + 1, retained: false }, messages: 3 })
})

test('a status topic carrying other values is not an availability topic, and stays demoted', (t) => {
  const state = run([
    msg('devices/boiler/status', '{"level":"error","state":"lockout"}', T0, true),
    msg('devices/boiler/status', 'online', T0 + 1000),
    msg('plant/press/status', 'online', T0),
    msg('plant/press/status', 'running', T0 + 1000),
    msg('plant/press/status', 'offline', T0 + 2000),
    msg('tele/plug/STATE', '{"POWER":"ON","Uptime":"0T00:01:00"}', T0),
    msg('sensors/x/value', '1', T0),
  ])
  t.deepEqual(availabilityReports(state), [])
})

test('empty payloads (cleared retained messages) change nothing', (t) => {
  const state = run([msg('tele/plug/LWT', 'Online', T0, true), msg('tele/plug/LWT', '', T0 + 1000)])
  t.like(availabilityOf(state, 'tele/plug/LWT'), { state: 'online', messages: 1, transition_count: 0 })
})

test('transitions are bounded: the latest maxTransitions are kept and all are counted', (t) => {
  const messages = [msg('tele/plug/LWT', 'Online', T0, true)]
  for (let i = 1; i <= 1000; i++) messages.push(msg('tele/plug/LWT', i % 2 === 1 ? 'Offline' : 'Online', T0 + i * 1000))
  const a = availabilityOf(run(messages, { maxTransitions: 50 }), 'tele/plug/LWT')!
  t.is(a.transition_count, 1000)
  t.is(a.transitions.length, 50)
  t.deepEqual(a.transitions[49], { at: T0 + 1_000_000, from: 'offline', to: 'online' })
  t.is(a.transitions[0]!.at, T0 + 951_000)
})

test('topics are bounded by maxTopics', (t) => {
  const state = initialAvailability({ maxTopics: 10 })
  for (let i = 0; i < 100_000; i++) availabilityStep(state, msg(`d/${i % 1000}/availability`, i % 3 === 0 ? 'offline' : 'online', T0 + i))
  t.is(state.topics.size, 10)
  t.is(availabilityReports(state).length, 10)
  t.true(state.untracked > 0)
  t.throws(() => initialAvailability({ maxTopics: 0 }), { instanceOf: RangeError })
})
