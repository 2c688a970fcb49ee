/** The /ws live feed through injectWS against a real app and aedes, with an mqtt.js publisher. */
import test from 'ava'
import { ok } from '../helpers/mcp.js'
import { eventually, harness, openFeed, sleep, type Frame, type Harness } from './harness.js'

const CANARY = 'canary-Pa55w0rd-ws-91c2'

interface Sample {
  session_id: string
  topic: string
  payload: string
  encoding: string
  size_bytes: number
  qos: number
  retain: boolean
  received_at: string
}

const samplesIn = (frames: Frame[]): Sample[] => frames.filter((f) => f.type === 'messages').flatMap((f) => f['samples'] as Sample[])

/** Waits until the session's broker subscription to `#` is granted (the feed is then live). */
async function feedSubscribed(h: Harness, sessionId: string): Promise<void> {
  await eventually('the feed subscription', async () => {
    const s = await h.json<{ sessions: Array<{ session_id: string; subscriptions: Array<{ filter: string; granted: number | null }> }> }>('/api/sessions')
    const session = s.sessions.find((x) => x.session_id === sessionId)
    return session?.subscriptions.some((x) => x.filter === '#' && x.granted !== null) === true ? true : undefined
  })
}

test('the hello frame carries the version, the sessions, recent calls and the filter', async (t) => {
  const h = await harness(t)
  const id = await h.openSession()
  const { socket, log } = await openFeed(h)
  t.teardown(() => socket.terminate())
  const hello = await log.next((f) => f.type === 'hello')
  t.is(log.frames[0], hello, 'hello comes first')
  t.is(typeof hello['version'], 'string')
  t.is(hello['filter'], '#')
  t.deepEqual((hello['sessions'] as Array<{ session_id: string }>).map((s) => s.session_id), [id])
  t.deepEqual((hello['calls'] as Array<{ tool: string }>).map((c) => c.tool), ['mqtt_establish_connection'])
})

test('session and tool_call frames follow the registry and the tool call log', async (t) => {
  const h = await harness(t)
  const { socket, log } = await openFeed(h)
  t.teardown(() => socket.terminate())
  await log.next((f) => f.type === 'hello')
  const id = await h.openSession({ username: 'alice', password: CANARY })
  const started = await log.next((f) => f.type === 'tool_call' && (f['call'] as { outcome: string }).outcome === 'running')
  const finished = await log.next((f) => f.type === 'tool_call' && (f['call'] as { outcome: string }).outcome === 'ok')
  t.like(started['call'], { tool: 'mqtt_establish_connection', args: { password: '***', username: 'alice' }, duration_ms: null })
  t.is(typeof (finished['call'] as { duration_ms: number }).duration_ms, 'number')
  const opened = await log.next((f) => f.type === 'session' && f['event'] === 'opened')
  t.like(opened['session'], { session_id: id, state: 'connected' })
  await ok(h.mcp.client, 'mqtt_close_connection', { session_id: id })
  const closed = await log.next((f) => f.type === 'session' && f['event'] === 'closed')
  t.like(closed['session'], { session_id: id, state: 'closed' })
  t.false(JSON.stringify(log.frames).includes(CANARY), 'no frame carries the password')
})

test('messages published to the broker arrive as samples while a client is connected, and the # subscription goes with the last client', async (t) => {
  const h = await harness(t)
  const id = await h.openSession({ password: CANARY, username: 'u' })
  const { socket, log } = await openFeed(h)
  await log.next((f) => f.type === 'hello')
  await feedSubscribed(h, id)
  const pub = await h.publisher()
  await pub.publishAsync('home/kitchen/temp', '{ "c": 21.5 }', { qos: 1 })
  // (aedes does not forward a retained publish to current subscribers: this one is plain)
  await pub.publishAsync('home/door', 'OPEN')
  await pub.publishAsync('home/blob', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff]))
  await pub.publishAsync('home/long', 'z'.repeat(1000))
  await eventually('four samples', () => (samplesIn(log.frames).length >= 4 ? true : undefined))
  const byTopic = new Map(samplesIn(log.frames).map((s) => [s.topic, s]))
  t.like(byTopic.get('home/kitchen/temp'), { session_id: id, payload: '{"c":21.5}', encoding: 'json', size_bytes: 13, qos: 0, retain: false })
  t.like(byTopic.get('home/door'), { payload: 'OPEN', encoding: 'text' })
  t.like(byTopic.get('home/blob'), { payload: '<binary 5 bytes>', encoding: 'binary', size_bytes: 5 })
  t.is(byTopic.get('home/long')?.payload.length, 200)
  t.false(Number.isNaN(Date.parse(byTopic.get('home/door')!.received_at)))

  const stats = await log.next((f) => f.type === 'stats')
  t.like((stats['sessions'] as unknown[])[0], { session_id: id, state: 'connected' })
  t.is(typeof stats['total_per_second'], 'number')
  t.false(JSON.stringify(log.frames).includes(CANARY))

  socket.terminate()
  await eventually('the # subscription to end', async () => {
    const s = await h.json<{ sessions: Array<{ subscriptions: Array<{ filter: string }> }> }>('/api/sessions')
    return s.sessions[0]?.subscriptions.some((x) => x.filter === '#') === false ? true : undefined
  })
  t.deepEqual((await h.json<{ feed: unknown }>('/api/status')).feed, { clients: 0, dropped_clients: 0 })
})

test('a session opened while a client is connected is fed too', async (t) => {
  const h = await harness(t)
  const { socket, log } = await openFeed(h)
  t.teardown(() => socket.terminate())
  await log.next((f) => f.type === 'hello')
  const id = await h.openSession()
  await feedSubscribed(h, id)
  const pub = await h.publisher()
  await pub.publishAsync('later/topic', 'hi')
  const frame = await log.next((f) => f.type === 'messages')
  t.like(samplesIn([frame])[0], { session_id: id, topic: 'later/topic', payload: 'hi' })
})

test('an open feed does not keep a session from expiring', async (t) => {
  const h = await harness(t, { env: { MQTT_MCP_SESSION_TTL_SECONDS: '1' } })
  const { socket, log } = await openFeed(h)
  t.teardown(() => socket.terminate())
  await log.next((f) => f.type === 'hello')
  const id = await h.openSession()
  const closed = await log.next((f) => f.type === 'session' && f['event'] === 'closed', 10_000)
  t.like(closed['session'], { session_id: id })
  t.is((await h.inject(`/api/sessions/${id}`)).json<{ error: { code: string } }>().error.code, 'SESSION_EXPIRED')
})

test('each client narrows its samples with its own filter; a bad filter gets an error frame', async (t) => {
  const h = await harness(t)
  const id = await h.openSession()
  const all = await openFeed(h)
  const narrow = await openFeed(h)
  t.teardown(() => {
    all.socket.terminate()
    narrow.socket.terminate()
  })
  await narrow.log.next((f) => f.type === 'hello')
  narrow.socket.send(JSON.stringify({ type: 'filter', filter: 'zigbee2mqtt/#' }))
  t.deepEqual(await narrow.log.next((f) => f.type === 'filter'), { type: 'filter', filter: 'zigbee2mqtt/#' })
  narrow.socket.send(JSON.stringify({ type: 'filter', filter: 'zigbee2mqtt/#/x' }))
  const error = await narrow.log.next((f) => f.type === 'error')
  t.regex(String(error['message']), /invalid filter/)

  await feedSubscribed(h, id)
  const pub = await h.publisher()
  await pub.publishAsync('tasmota/plug/state', 'ON')
  await pub.publishAsync('zigbee2mqtt/lamp', '{"state":"ON"}')
  await pub.publishAsync('end/marker', 'x')
  await eventually('all three samples on the unfiltered client', () => (samplesIn(all.log.frames).length >= 3 ? true : undefined))
  await sleep(300)
  t.deepEqual(samplesIn(narrow.log.frames).map((s) => s.topic), ['zigbee2mqtt/lamp'])
})

test('a burst on one topic is coalesced: at most about 10 frames a second, ending with the latest value', async (t) => {
  const h = await harness(t)
  const id = await h.openSession()
  const { socket, log } = await openFeed(h)
  t.teardown(() => socket.terminate())
  await log.next((f) => f.type === 'hello')
  await feedSubscribed(h, id)
  const pub = await h.publisher()
  const start = Date.now()
  for (let i = 0; i < 500; i++) pub.publish('burst/value', String(i))
  await log.next((f) => f.type === 'messages' && samplesIn([f]).some((s) => s.payload === '499'), 20_000)
  const seconds = (Date.now() - start) / 1000
  const frames = log.frames.filter((f) => f.type === 'messages')
  const samples = samplesIn(frames)
  t.true(frames.length <= Math.ceil(seconds * 10) + 2, `${frames.length} frames in ${seconds} s`)
  t.true(samples.length < 500, `${samples.length} samples for 500 messages`)
  t.true(frames.every((f) => samplesIn([f]).length === 1), 'one sample per frame: the latest of the topic')
  t.is(samples.at(-1)?.payload, '499')
})
