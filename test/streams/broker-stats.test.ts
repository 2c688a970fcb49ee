import test from 'ava'
import { brokerStatsView, emqxUptime, initialSysIndex, sysStep, toNumber, type SysIndex } from '../../src/streams/broker-stats.js'
import type { Message } from '../../src/streams/types.js'

const T0 = Date.UTC(2025, 0, 1)

const msg = (topic: string, payload: string, opts: { retain?: boolean; at?: number } = {}): Message => ({
  topic,
  payload: Buffer.from(payload, 'utf8'),
  qos: 0,
  retain: opts.retain ?? false,
  receivedAt: opts.at ?? T0,
})

const indexAll = (messages: readonly Message[], maxTopics?: number): SysIndex =>
  messages.reduce(sysStep, initialSysIndex(maxTopics === undefined ? {} : { maxTopics }))

const view = (messages: readonly Message[]) => brokerStatsView(indexAll(messages), { durationSeconds: 5 })

test('brokerStatsView › maps Mosquitto names, keeping the latest live value over the retained snapshot', (t) => {
  const s = view([
    msg('$SYS/broker/version', 'mosquitto version 2.0.11', { retain: true }),
    msg('$SYS/broker/uptime', '40 seconds', { retain: true }),
    msg('$SYS/broker/clients/connected', '0', { retain: true }),
    msg('$SYS/broker/clients/connected', '3', { at: T0 + 1000 }),
    msg('$SYS/broker/uptime', '41 seconds', { at: T0 + 1000 }),
    msg('$SYS/broker/load/publish/received/1min', '120.00'),
    msg('$SYS/broker/load/messages/received/1min', '600.00'),
    msg('$SYS/broker/load/publish/sent/1min', '60'),
    msg('$SYS/broker/load/bytes/received/1min', '6000'),
    msg('$SYS/broker/load/bytes/sent/1min', '3000'),
    msg('$SYS/broker/subscriptions/count', '7'),
    msg('$SYS/broker/retained messages/count', '52'),
    msg('$SYS/broker/publish/messages/dropped', '4'),
  ])
  t.like(s, {
    broker: 'mosquitto',
    version: '2.0.11',
    uptime_seconds: 41,
    clients_connected: 3,
    messages_received_per_second: 2,
    messages_sent_per_second: 1,
    bytes_received_per_second: 100,
    bytes_sent_per_second: 50,
    subscriptions: 7,
    retained_messages: 52,
    dropped_messages: 4,
    sys_topics: 11,
    raw_truncated: false,
  })
  t.deepEqual(s.raw[0], { topic: '$SYS/broker/clients/connected', value: '3', retained: false })
  t.deepEqual(s.notes, [])
})

test('brokerStatsView › falls back to all-packet load figures and clients/active on older Mosquitto', (t) => {
  const s = view([msg('$SYS/broker/version', 'mosquitto version 1.4.15'), msg('$SYS/broker/load/messages/received/1min', '30'), msg('$SYS/broker/clients/active', '2')])
  t.like(s, { broker: 'mosquitto', version: '1.4.15', messages_received_per_second: 0.5, clients_connected: 2, uptime_seconds: null, dropped_messages: null })
})

test('brokerStatsView › says when every value is a stale retained snapshot', (t) => {
  const s = view([msg('$SYS/broker/version', 'mosquitto version 2.0.11', { retain: true }), msg('$SYS/broker/uptime', '9 seconds', { retain: true })])
  t.is(s.uptime_seconds, 9)
  t.true(s.notes.some((n) => /retained \$SYS snapshot/.test(n)))
})

test('brokerStatsView › maps EMQX 5 names, uptime in ms and counter rates between two live ticks', (t) => {
  const node = 'emqx@127.0.0.1'
  const p = `$SYS/brokers/${node}`
  const s = view([
    msg('$SYS/brokers', node, { retain: true }),
    msg(`${p}/version`, '5.8.0', { retain: true }),
    msg(`${p}/sysdescr`, 'EMQX', { retain: true }),
    msg(`${p}/uptime`, '3723000'),
    msg(`${p}/stats/connections/count`, '12'),
    msg(`${p}/stats/subscriptions/count`, '30'),
    msg(`${p}/stats/retained/count`, '5'),
    msg(`${p}/metrics/messages/dropped`, '2'),
    msg(`${p}/metrics/messages/received`, '1000', { at: T0 }),
    msg(`${p}/metrics/messages/received`, '1600', { at: T0 + 60_000 }),
    msg(`${p}/metrics/messages/sent`, '500', { at: T0 }),
    msg(`${p}/metrics/messages/sent`, '1100', { at: T0 + 60_000 }),
    msg(`${p}/clients/c1/connected`, '{"clientid":"c1","ts":1}'),
  ])
  t.like(s, {
    broker: 'emqx',
    version: '5.8.0',
    uptime_seconds: 3723,
    clients_connected: 12,
    subscriptions: 30,
    retained_messages: 5,
    dropped_messages: 2,
    messages_received_per_second: 10,
    messages_sent_per_second: 10,
    bytes_received_per_second: null,
  })
})

test('brokerStatsView › reads EMQX 4 uptime text and explains missing rates', (t) => {
  const p = '$SYS/brokers/emqx@node1'
  const s = view([msg(`${p}/version`, '4.4.19'), msg(`${p}/uptime`, '1 days, 2 hours, 3 minutes, 4 seconds'), msg(`${p}/stats/connections/count`, '1'), msg(`${p}/metrics/messages/received`, '10')])
  t.like(s, { broker: 'emqx', version: '4.4.19', uptime_seconds: 93784, messages_received_per_second: null })
  t.true(s.notes.some((n) => /counters, not rates/.test(n)))
})

test('brokerStatsView › names a cluster node when several EMQX nodes publish', (t) => {
  const s = view([msg('$SYS/brokers/a@h/version', '5.1.0'), msg('$SYS/brokers/b@h/uptime', '1000')])
  t.is(s.broker, 'emqx')
  t.is(s.version, '5.1.0')
  t.true(s.notes.some((n) => /2 nodes/.test(n)))
})

test('brokerStatsView › recognises HiveMQ by its version text on Mosquitto-style names', (t) => {
  const s = view([msg('$SYS/broker/version', 'HiveMQ 3.4.2'), msg('$SYS/broker/uptime', '120'), msg('$SYS/broker/clients/connected', '5')])
  t.like(s, { broker: 'hivemq', version: 'HiveMQ 3.4.2', uptime_seconds: 120, clients_connected: 5 })
})

test('brokerStatsView › keeps Mosquitto-style names of an unnamed broker as unknown, with a note', (t) => {
  const s = view([msg('$SYS/broker/version', '3.4.2'), msg('$SYS/broker/uptime', '120')])
  t.like(s, { broker: 'unknown', version: '3.4.2', uptime_seconds: 120 })
  t.true(s.notes.some((n) => /Mosquitto's layout/.test(n)))
})

test('brokerStatsView › recognises bare aedes by its heartbeat and client events and says what it lacks', (t) => {
  const id = '0f1e2d3c-aaaa-bbbb-cccc-000011112222'
  const s = view([msg(`$SYS/${id}/new/clients`, 'client-1'), msg(`$SYS/${id}/heartbeat`, id)])
  t.like(s, { broker: 'aedes', version: null, uptime_seconds: null, clients_connected: null })
  t.true(s.notes.some((n) => /aedes-stats/.test(n)))
})

test('brokerStatsView › maps aedes-stats names', (t) => {
  const p = '$SYS/broker-1'
  const s = view([
    msg(`${p}/uptime`, '17', { retain: true }),
    msg(`${p}/uptime`, '18', { at: T0 + 1000 }),
    msg(`${p}/clients/total`, '2', { at: T0 + 1000 }),
    msg(`${p}/messages/publish/sent`, '100', { at: T0 + 1000 }),
    msg(`${p}/messages/publish/sent`, '130', { at: T0 + 4000 }),
  ])
  t.like(s, { broker: 'aedes', uptime_seconds: 18, clients_connected: 2, messages_received_per_second: 10 })
  t.false(s.notes.some((n) => /need the aedes-stats plugin/.test(n)))
})

test('brokerStatsView › says plainly when no $SYS topic arrived', (t) => {
  const s = view([])
  t.like(s, { broker: 'unknown', version: null, uptime_seconds: null, clients_connected: null, sys_topics: 0, raw: [] })
  t.is(s.notes.length, 1)
  t.regex(s.notes[0]!, /published no \$SYS topics in 5 s; it may not support them \(RabbitMQ, HiveMQ\).*try a longer duration_seconds/)
})

test('brokerStatsView › lists unknown layouts in raw with a note', (t) => {
  const s = view([msg('$SYS/VerneMQ@127.0.0.1/mqtt/publish/received', '5')])
  t.is(s.broker, 'unknown')
  t.is(s.raw.length, 1)
  t.true(s.notes.some((n) => /no layout this tool knows/.test(n)))
})

test('sysStep › stays bounded: topics past maxTopics are counted, raw is capped', (t) => {
  const index = indexAll(
    Array.from({ length: 50 }, (_, i) => msg(`$SYS/broker/x/${String(i).padStart(2, '0')}`, 'x'.repeat(1000))),
    30,
  )
  t.is(index.topics.size, 30)
  t.true(index.truncated)
  t.is(index.messages, 50)
  const s = brokerStatsView(index, { durationSeconds: 1, maxRaw: 10 })
  t.is(s.raw.length, 10)
  t.true(s.raw_truncated)
  t.true(s.raw.every((r) => r.value.length <= 201))
})

test('sysStep › shows binary payloads by size', (t) => {
  const index = [{ ...msg('$SYS/broker/odd', ''), payload: Buffer.from([0xff, 0xfe, 0x00]) }].reduce(sysStep, initialSysIndex())
  t.is(index.topics.get('$SYS/broker/odd')?.last.value, '<binary 3 bytes>')
})

test('toNumber and emqxUptime › read leading numbers and uptime texts', (t) => {
  t.is(toNumber('12 seconds'), 12)
  t.is(toNumber('1.97'), 1.97)
  t.is(toNumber('n/a'), null)
  t.is(toNumber(undefined), null)
  t.is(emqxUptime('4 hours, 37 minutes, 56 seconds'), 16676)
  t.is(emqxUptime('12000'), 12)
  t.is(emqxUptime('soon'), null)
})
