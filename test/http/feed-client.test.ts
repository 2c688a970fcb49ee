/**
 * Feed clients in virtual time against fake sockets and a fake hub, through the real channels: coalescing,
 * bounds, filter, sharing between clients, the slow-client rule.
 */
import test from 'ava'
import { Subject, VirtualAction, VirtualTimeScheduler } from 'rxjs'
import { CLOSE_TOO_SLOW, openFeedClient, type FeedLimits, type FeedSocket } from '../../src/http/feed-client.js'
import { createFeedChannels, type FeedHub, type MessageListener } from '../../src/http/feed-hub.js'
import { toSample, type MessageSample } from '../../src/http/frames.js'
import type { Message } from '../../src/streams/types.js'

const limits: FeedLimits = { flushMs: 100, maxTopicsPerFlush: 3, maxBufferedBytes: 1000, dropGraceMs: 500 }

class FakeSocket implements FeedSocket {
  readyState = 1
  bufferedAmount = 0
  readonly sent: Array<{ at: number; frame: { type: string } & Record<string, unknown>; text: string }> = []
  closedWith: [number | undefined, string | undefined] | undefined
  terminatedAt: number | undefined
  constructor(private readonly clock: () => number) {}
  send(data: string): void {
    this.sent.push({ at: this.clock(), frame: JSON.parse(data) as { type: string }, text: data })
  }
  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason]
    this.readyState = 2
  }
  terminate(): void {
    this.terminatedAt = this.clock()
    this.readyState = 3
  }
  frames(type: string): Array<{ at: number; frame: Record<string, unknown>; text: string }> {
    return this.sent.filter((s) => s.frame.type === type)
  }
}

function setup(frames = 2000) {
  const scheduler = new VirtualTimeScheduler(VirtualAction, frames)
  const socket = new FakeSocket(() => scheduler.now())
  const broadcast = new Subject<string>()
  const listeners = new Set<MessageListener>()
  let dropped = 0
  let clients = 0
  const sampled: Message[] = []
  const hub: FeedHub = {
    hello: (filter) => ({ type: 'hello', version: 'test', sessions: [], calls: [], filter }),
    broadcast$: broadcast,
    listen: (l) => {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    addClient: () => {
      clients++
      return () => clients--
    },
    sample: (sessionId, m) => {
      sampled.push(m)
      return toSample(sessionId, m)
    },
    noteDropped: () => dropped++,
    counts: () => ({ clients, dropped_clients: dropped }),
    close: () => undefined,
  }
  const channels = createFeedChannels(hub, scheduler, limits)
  const open = (s: FakeSocket = new FakeSocket(() => scheduler.now())) => ({ socket: s, client: openFeedClient(s, hub, channels, scheduler, limits) })
  const { client } = open(socket)
  const publish = (at: number, topic: string, payload: string, session = 's1'): void => {
    scheduler.schedule(() => {
      for (const l of listeners) l(session, { topic, payload: Buffer.from(payload), qos: 0, retain: false, receivedAt: scheduler.now() })
    }, at)
  }
  const at = (time: number, work: () => void): void => void scheduler.schedule(work, time)
  return { scheduler, socket, broadcast, listeners, client, publish, at, open, channels, sampled, clients: () => clients, dropped: () => dropped }
}

const samplesOf = (f: Record<string, unknown>): MessageSample[] => f['samples'] as MessageSample[]

test('openFeedClient › says hello first, with the filter', (t) => {
  const { socket } = setup()
  t.deepEqual(socket.sent[0]?.frame, { type: 'hello', version: 'test', sessions: [], calls: [], filter: '#' })
})

test('openFeedClient › coalesces messages into one frame per period with the latest per topic', (t) => {
  const { scheduler, socket, publish } = setup(1000)
  for (let i = 0; i < 500; i++) publish(10 + Math.floor(i / 10), 'a/b', String(i))
  publish(50, 'a/c', 'x')
  publish(150, 'a/b', 'late')
  scheduler.flush()
  const frames = socket.frames('messages')
  t.deepEqual(frames.map((f) => f.at), [100, 200])
  t.deepEqual(samplesOf(frames[0]!.frame).map((s) => [s.topic, s.payload]), [['a/b', '499'], ['a/c', 'x']])
  t.deepEqual(samplesOf(frames[1]!.frame).map((s) => [s.topic, s.payload]), [['a/b', 'late']])
})

test('openFeedClient › keeps the same topic of two sessions apart', (t) => {
  const { scheduler, socket, publish } = setup(150)
  publish(10, 'x', '1', 's1')
  publish(20, 'x', '2', 's2')
  scheduler.flush()
  t.deepEqual(samplesOf(socket.frames('messages')[0]!.frame).map((s) => [s.session_id, s.payload]), [['s1', '1'], ['s2', '2']])
})

test('openFeedClient › bounds the topics of one frame, still updating those it holds', (t) => {
  const { scheduler, socket, publish } = setup(150)
  for (const topic of ['t/1', 't/2', 't/3', 't/4', 't/5']) publish(10, topic, 'v')
  publish(20, 't/1', 'newer')
  scheduler.flush()
  const samples = samplesOf(socket.frames('messages')[0]!.frame)
  t.deepEqual(samples.map((s) => [s.topic, s.payload]), [['t/1', 'newer'], ['t/2', 'v'], ['t/3', 'v']])
})

test('openFeedClient › applies a valid filter, confirms it and forgets waiting samples it excludes', (t) => {
  const { scheduler, socket, publish, client, at } = setup(300)
  publish(10, 'zigbee2mqtt/lamp', 'on')
  publish(10, 'tasmota/plug', 'off')
  at(20, () => client.receive(JSON.stringify({ type: 'filter', filter: 'zigbee2mqtt/#' })))
  publish(150, 'tasmota/plug', 'on')
  publish(150, 'zigbee2mqtt/bulb', '{"state": "ON"}')
  scheduler.flush()
  t.deepEqual(socket.frames('filter').map((f) => f.frame), [{ type: 'filter', filter: 'zigbee2mqtt/#' }])
  t.deepEqual(socket.frames('messages').flatMap((f) => samplesOf(f.frame).map((s) => s.topic)), ['zigbee2mqtt/lamp', 'zigbee2mqtt/bulb'])
})

test("openFeedClient › a new filter's channel starts with what the old one held and it matches; going back shares the first channel again", (t) => {
  const { scheduler, socket, publish, client, at, open, channels } = setup(400)
  const other = open()
  publish(10, 'zigbee2mqtt/lamp', 'on')
  publish(10, 'tasmota/plug', 'off')
  at(20, () => client.receive(JSON.stringify({ type: 'filter', filter: 'zigbee2mqtt/#' })))
  at(30, () => t.is(channels.size(), 2))
  at(250, () => client.receive(JSON.stringify({ type: 'filter', filter: '#' })))
  publish(260, 'tasmota/plug', 'on')
  scheduler.flush()
  t.is(channels.size(), 1, 'the zigbee2mqtt/# channel closed with its last client')
  const topics = (s: FakeSocket) => s.frames('messages').flatMap((f) => samplesOf(f.frame).map((x) => x.topic))
  t.deepEqual(topics(socket), ['zigbee2mqtt/lamp', 'tasmota/plug'])
  t.deepEqual(topics(other.socket), ['zigbee2mqtt/lamp', 'tasmota/plug', 'tasmota/plug'])
})

test('openFeedClient › clients on one filter share its channel: the hub has one listener, each topic is sampled once a flush and every client gets the same frame', (t) => {
  const { scheduler, socket, publish, open, listeners, sampled, clients } = setup(250)
  const others = [open(), open(), open(), open()]
  for (const topic of ['t/1', 't/2', 't/3']) publish(10, topic, 'v')
  publish(20, 't/1', 'newer')
  publish(150, 't/2', 'later')
  scheduler.flush()
  t.is(clients(), 5)
  t.is(listeners.size, 1, 'one listener for five clients: each message is handled once')
  t.deepEqual(sampled.map((m) => m.topic), ['t/1', 't/2', 't/3', 't/2'], 'each waiting message sampled once, not once per client')
  const texts = socket.frames('messages').map((f) => f.text)
  t.is(texts.length, 2)
  for (const o of others) t.deepEqual(o.socket.frames('messages').map((f) => f.text), texts)
})

test('openFeedClient › answers an invalid filter or frame with an error frame and keeps its filter', (t) => {
  const { socket, client } = setup()
  for (const text of [JSON.stringify({ type: 'filter', filter: 'a/#/b' }), JSON.stringify({ type: 'filter', filter: 'a+' }), 'not json', '[1]', JSON.stringify({ type: 'other' }), JSON.stringify({ type: 'filter' })]) {
    client.receive(text)
  }
  client.receive(undefined)
  const errors = socket.frames('error').map((f) => String(f.frame['message']))
  t.is(errors.length, 7)
  t.regex(errors[0]!, /invalid filter/)
  t.is(socket.frames('filter').length, 0)
})

test('openFeedClient › forwards the shared frames as they are', (t) => {
  const { socket, broadcast } = setup()
  broadcast.next(JSON.stringify({ type: 'stats', at: 'now', total_per_second: 0, sessions: [] }))
  t.deepEqual(socket.sent[1]?.frame, { type: 'stats', at: 'now', total_per_second: 0, sessions: [] })
})

test('openFeedClient › closes a client whose socket buffer passes the bound with 1013, counts it and destroys the socket after the grace period', (t) => {
  const { scheduler, socket, publish, at, listeners, dropped } = setup(1000)
  publish(10, 'a', '1')
  at(150, () => (socket.bufferedAmount = 5000))
  publish(160, 'a', '2')
  publish(260, 'a', '3')
  scheduler.flush()
  t.is(socket.frames('messages').length, 1)
  t.is(socket.closedWith?.[0], CLOSE_TOO_SLOW)
  t.regex(socket.closedWith?.[1] ?? '', /too slow/)
  t.is(socket.terminatedAt, 200 + limits.dropGraceMs)
  t.is(dropped(), 1)
  t.is(listeners.size, 0, 'no longer listening')
})

test('openFeedClient › stops everything when the socket closes', (t) => {
  const { scheduler, socket, publish, at, client, listeners, broadcast, clients, channels } = setup(500)
  at(50, () => client.end())
  publish(60, 'a', '1')
  scheduler.flush()
  broadcast.next('{"type":"stats"}')
  t.is(listeners.size, 0)
  t.is(channels.size(), 0)
  t.is(clients(), 0)
  t.deepEqual(socket.sent.map((s) => s.frame.type), ['hello'])
})

test('openFeedClient › a slow client leaves its channel; the others on it keep their frames', (t) => {
  const { scheduler, socket, publish, at, open, dropped } = setup(400)
  const other = open()
  publish(10, 'a', '1')
  at(150, () => (socket.bufferedAmount = 5000))
  publish(160, 'a', '2')
  publish(260, 'a', '3')
  scheduler.flush()
  t.is(dropped(), 1)
  t.is(socket.frames('messages').length, 1)
  t.deepEqual(other.socket.frames('messages').map((f) => samplesOf(f.frame)[0]?.payload), ['1', '2', '3'])
})

// samples

const sample = (payload: Buffer | string) => toSample('s', { topic: 't', payload: Buffer.from(payload), qos: 1, retain: true, receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5) })

test('toSample › shows text as text, JSON compact and binary as its size', (t) => {
  t.like(sample('hello'), { payload: 'hello', encoding: 'text', size_bytes: 5, qos: 1, retain: true, received_at: '2026-01-02T03:04:05.000Z', session_id: 's', topic: 't' })
  t.like(sample('{ "a" : [1, 2],\n "b": null }'), { payload: '{"a":[1,2],"b":null}', encoding: 'json' })
  t.like(sample('42'), { payload: '42', encoding: 'json' })
  t.like(sample(Buffer.from([0xff, 0xfe, 0x00, 0x01])), { payload: '<binary 4 bytes>', encoding: 'binary', size_bytes: 4 })
  t.like(sample(''), { payload: '', encoding: 'text', size_bytes: 0 })
})

test('toSample › cuts long previews to 200 characters ending in an ellipsis', (t) => {
  const long = sample('x'.repeat(5000))
  t.is(long.payload.length, 200)
  t.true(long.payload.endsWith('…'))
  t.is(long.size_bytes, 5000)
  const json = sample(JSON.stringify({ list: Array.from({ length: 400 }, (_, i) => i) }))
  t.is(json.payload.length, 200)
  t.is(json.encoding, 'json')
  const huge = sample(JSON.stringify({ s: 'y'.repeat(100_000) }))
  t.is(huge.payload.length, 200)
  t.is(huge.encoding, 'json')
  t.is(sample('é'.repeat(300)).payload.length, 200)
})
