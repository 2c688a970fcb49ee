/**
 * A session against real brokers: reconnection after the broker is killed and restarted, ref-counted broker
 * subscriptions, NotConnected while reconnecting, close, and that credentials never show.
 */
import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import mqtt from 'mqtt'
import { randomUUID } from 'node:crypto'
import { inspect } from 'node:util'
import { asyncScheduler, filter, firstValueFrom, timeout, type Observable, type Subscription } from 'rxjs'
import { startEmbeddedBroker } from '../../src/demo/broker.js'
import type { AppError } from '../../src/errors.js'
import { createLogger, silentLogger } from '../../src/log.js'
import { parseConnectionString } from '../../src/mqtt/url.js'
import { createSealer, type Sealed, type Sealer } from '../../src/sessions/secrets.js'
import { Session, type SessionDeps, type SessionSpec, type SessionState } from '../../src/sessions/session.js'
import { connectNegotiated } from '../../src/streams/sources/connection.js'
import type { Message, QoS } from '../../src/streams/types.js'
import { brokerMatrix, mosquittoPath, startAedes, startMosquitto, type TestBroker } from '../helpers/brokers.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------------------
// helpers

function deps(extra: Partial<SessionDeps> = {}): SessionDeps {
  return {
    connect: (o) => connectNegotiated(o, asyncScheduler),
    sealer: createSealer(),
    scheduler: asyncScheduler,
    logger: silentLogger,
    backoff: { baseMs: 100, capMs: 500, jitter: 0 },
    ...extra,
  }
}

function spec(url: string, extra: Partial<SessionSpec> = {}): SessionSpec {
  const parsed = parseConnectionString(url)
  if (E.isLeft(parsed)) throw new Error(`bad test url ${url}`)
  return {
    url: parsed.right,
    clientId: `sess-${randomUUID().slice(0, 8)}`,
    protocolVersion: 'auto',
    keepaliveSeconds: 10,
    clean: true,
    connectTimeoutMs: 2_000,
    ...extra,
  }
}

async function openSession(s: SessionSpec, d: SessionDeps = deps()): Promise<Session> {
  const opened = await Session.open(s, d)
  if (E.isLeft(opened)) throw new Error(`session did not open: ${opened.left._tag}: ${opened.left.message}`)
  return opened.right
}

/** Polls `check` every 20 ms until it holds, or fails after `ms`. */
async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

const stateOf = (session: Session, state: SessionState, ms = 5_000): Promise<SessionState> =>
  firstValueFrom(session.state$.pipe(filter((s) => s === state), timeout(ms)))

interface Inbox {
  readonly messages: Message[]
  /** 'open' until the stream ends. */
  readonly end: 'open' | 'complete' | AppError
  readonly subscription: Subscription
  waitFor(match: (m: Message) => boolean, ms?: number): Promise<Message>
}

function collect(source: Observable<Message>): Inbox {
  const messages: Message[] = []
  const state: { end: Inbox['end'] } = { end: 'open' }
  // a closed session completes synchronously: record before the inbox exists
  const subscription = source.subscribe({
    next: (m) => messages.push(m),
    error: (e: AppError) => (state.end = e),
    complete: () => (state.end = 'complete'),
  })
  return {
    messages,
    get end() {
      return state.end
    },
    subscription,
    waitFor: async (match, ms = 5_000) => {
      await until(() => messages.some(match), 'a matching message', ms)
      return messages.find(match) as Message
    },
  }
}

/** Publishes once from an independent client at QoS 1. */
async function publishOnce(url: string, topic: string, payload: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `pub-${randomUUID().slice(0, 8)}` })
  try {
    await client.publishAsync(topic, payload, { qos: 1 })
  } finally {
    await client.endAsync()
  }
}

/** A sealer that remembers what it sealed. */
function recordingSealer(): Sealer & { sealed: Sealed[]; base: Sealer } {
  const base = createSealer()
  const sealed: Sealed[] = []
  return {
    base,
    sealed,
    seal: (plain) => {
      const s = base.seal(plain)
      sealed.push(s)
      return s
    },
    open: (s) => base.open(s),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// reconnection

for (const b of brokerMatrix()) {
  test(`a session on ${b.name} reconnects by itself after the broker restarts and restores its subscription`, async (t) => {
    const broker: TestBroker = await b.start()
    t.teardown(() => broker.close())
    const session = await openSession(spec(broker.url))
    t.teardown(() => session.close())
    t.is(session.protocolVersion, b.name === 'aedes' ? 4 : 5)
    const states: SessionState[] = []
    session.state$.subscribe((s) => states.push(s))

    let grants = 0
    const inbox = collect(session.subscribe('re/#', 1, () => grants++))
    await until(() => grants === 1, 'SUBACK')
    await publishOnce(broker.url, 're/before', 'a')
    await inbox.waitFor((m) => m.topic === 're/before')

    await broker.stop()
    await stateOf(session, 'reconnecting')
    // lastError moves on to the refused reconnect attempts (BrokerUnreachable); the gap keeps the loss
    t.regex(session.interruptions[0]?.error ?? '', /was lost/)
    const during = await session.publish('re/during', Buffer.from('x'), { qos: 1, retain: false })
    t.true(E.isLeft(during))
    if (E.isLeft(during)) t.is(during.left._tag, 'NotConnected')
    t.is(session.interruptions.length, 1)
    t.is(session.interruptions[0]?.end, undefined, 'the gap is open while reconnecting')
    // a subscription made while reconnecting is sent once the connection is back
    const joined = collect(session.subscribe('joined/#', 0))

    await broker.restart()
    await stateOf(session, 'connected')
    // the SUBSCRIBE is sent again after the reconnect: wait for its SUBACK before publishing
    await until(() => session.subscriptions().every((x) => x.granted !== undefined), 'the restored SUBACKs')
    await publishOnce(broker.url, 're/after', 'b')
    const after = await inbox.waitFor((m) => m.topic === 're/after')
    t.is(after.payload.toString(), 'b')
    await publishOnce(broker.url, 'joined/x', 'c')
    await joined.waitFor((m) => m.topic === 'joined/x')
    joined.subscription.unsubscribe()

    t.deepEqual(states, ['connected', 'reconnecting', 'connected'])
    t.is(session.reconnects, 1)
    t.is(inbox.end, 'open', 'the same Observable goes on after the reconnect')
    t.deepEqual(
      inbox.messages.map((m) => m.topic),
      ['re/before', 're/after'],
    )
    const gap = session.interruptions[0]
    t.is(session.interruptions.length, 1)
    t.true(gap !== undefined && gap.end !== undefined && gap.end >= gap.start && gap.start > 0)
    t.regex(gap?.error ?? '', /lost/)
    const published = await session.publish('re/again', Buffer.from('y'), { qos: 1, retain: false })
    t.true(E.isRight(published))
    const info = session.info(60_000)
    t.is(info.state, 'connected')
    t.is(info.reconnects, 1)
    t.deepEqual(info.subscriptions, [{ filter: 're/#', qos: 1, granted: 1, shared_by: 1 }])
    inbox.subscription.unsubscribe()
  })
}

test('a session whose broker is down at start fails with BrokerUnreachable and leaves nothing behind', async (t) => {
  const broker = await startAedes()
  await broker.close()
  const opened = await Session.open(spec(broker.url), deps())
  t.true(E.isLeft(opened))
  if (E.isLeft(opened)) t.is(opened.left._tag, 'BrokerUnreachable')
})

// ---------------------------------------------------------------------------------------------------------------
// ref-counted subscriptions

test('two subscribers to one filter share one broker subscription and the last to leave removes it', async (t) => {
  const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0 })
  t.teardown(() => broker.close())
  const s = spec(broker.url)
  const seen: string[] = []
  broker.aedes.on('subscribe', (subs, client) => {
    if (client.id === s.clientId) for (const x of subs) seen.push(`SUBSCRIBE ${x.topic}`)
  })
  broker.aedes.on('unsubscribe', (unsubs, client) => {
    if (client.id === s.clientId) for (const x of unsubs) seen.push(`UNSUBSCRIBE ${x}`)
  })
  const session = await openSession(s)
  t.teardown(() => session.close())

  const first = collect(session.subscribe('two/#'))
  const second = collect(session.subscribe('two/#'))
  await until(() => session.subscriptions()[0]?.granted !== undefined, 'SUBACK')
  t.deepEqual(session.subscriptions(), [{ filter: 'two/#', qos: 0, granted: 0, refs: 2 }])
  t.is(session.inUse, 2)

  await publishOnce(broker.url, 'two/x', 'hello')
  await first.waitFor((m) => m.topic === 'two/x')
  await second.waitFor((m) => m.topic === 'two/x')
  t.is(first.messages.length, 1, 'one copy each')
  t.is(second.messages.length, 1)
  t.is(session.messagesReceived, 1, 'the broker delivered it once')
  t.deepEqual(seen, ['SUBSCRIBE two/#'])

  first.subscription.unsubscribe()
  t.deepEqual(session.subscriptions(), [{ filter: 'two/#', qos: 0, granted: 0, refs: 1 }])
  second.subscription.unsubscribe()
  t.deepEqual(session.subscriptions(), [])
  t.is(session.inUse, 0)
  await until(() => seen.length === 2, 'UNSUBSCRIBE')
  t.deepEqual(seen, ['SUBSCRIBE two/#', 'UNSUBSCRIBE two/#'])

  await publishOnce(broker.url, 'two/y', 'nobody listens')
  await sleep(200)
  t.is(session.messagesReceived, 1, 'nothing arrives after UNSUBSCRIBE')
})

// ---------------------------------------------------------------------------------------------------------------
// close

test('close sends the client away, ends every stream and makes the credentials unreadable', async (t) => {
  const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0 })
  t.teardown(() => broker.close())
  const s = spec(broker.url, { username: 'alice', password: 'secret-1' })
  const gone = new Promise<void>((resolve) =>
    broker.aedes.on('clientDisconnect', (client) => {
      if (client.id === s.clientId) resolve()
    }),
  )
  const sealer = recordingSealer()
  const session = await openSession(s, deps({ sealer }))
  t.is(sealer.sealed.length, 2, 'username and password are sealed')
  for (const sealed of sealer.sealed) t.notThrows(() => sealer.base.open(sealed))

  const inbox = collect(session.subscribe('c/#'))
  await until(() => session.subscriptions()[0]?.granted !== undefined, 'SUBACK')
  let closedEvents = 0
  session.closed$.subscribe(() => closedEvents++)
  let stateEnded = false
  session.state$.subscribe({ complete: () => (stateEnded = true) })

  await session.close()
  t.is(session.state, 'closed')
  t.is(inbox.end, 'complete')
  t.is(closedEvents, 1)
  t.true(stateEnded)
  t.is(session.inUse, 0)
  await gone // the broker saw the client go
  for (const sealed of sealer.sealed) t.throws(() => sealer.base.open(sealed))

  const late = await session.publish('c/x', Buffer.from('x'), { qos: 0, retain: false })
  t.true(E.isLeft(late))
  if (E.isLeft(late)) t.is(late.left._tag, 'NotConnected')
  const after = collect(session.subscribe('c/#'))
  t.is(after.end, 'complete', 'a closed session gives an empty stream')
  await t.notThrowsAsync(session.close(), 'close is idempotent')
})

// ---------------------------------------------------------------------------------------------------------------
// secrets

const CANARY = 'canary-Pw-93f1'
const hasMosquitto = mosquittoPath() !== undefined

test('neither info, inspect nor the log show the password, given as a field or in the URL', async (t) => {
  // Mosquitto checks the password, so the canary must really be the one that works
  const broker = hasMosquitto ? await startMosquitto({ users: { alice: CANARY } }) : await startAedes()
  t.teardown(() => broker.close())
  const lines: string[] = []
  const logger = createLogger('debug', {}, (line) => lines.push(line))
  const viaField = await openSession(spec(broker.url, { username: 'alice', password: CANARY }), deps({ logger }))
  t.teardown(() => viaField.close())
  const viaUrl = await openSession(spec(`mqtt://alice:${CANARY}@127.0.0.1:${broker.port}`, { username: 'alice', password: CANARY }), deps({ logger }))
  t.teardown(() => viaUrl.close())

  for (const session of [viaField, viaUrl]) {
    t.is(session.state, 'connected')
    const info = JSON.stringify(session.info(60_000))
    t.false(info.includes(CANARY), info)
    t.regex(info, /alice/)
    for (const text of [inspect(session), inspect(session, { depth: Infinity, showHidden: true })]) {
      t.false(text.includes(CANARY), 'util.inspect shows the password')
    }
  }
  // a reconnect logs errors and retries: still nothing
  await broker.stop()
  await stateOf(viaField, 'reconnecting')
  await broker.restart()
  await stateOf(viaField, 'connected')
  await viaField.close()
  t.true(lines.length > 0)
  for (const line of lines) t.false(line.includes(CANARY), line)
  t.false(inspect(viaField, { depth: Infinity }).includes(CANARY))
})

test('a subscription with a higher QoS upgrades the shared broker subscription', async (t) => {
  const broker = await startAedes()
  t.teardown(() => broker.close())
  const session = await openSession(spec(broker.url))
  t.teardown(() => session.close())
  const grants: QoS[] = []
  const low = collect(session.subscribe('up/#', 0, (q) => grants.push(q)))
  await until(() => grants.length === 1, 'first SUBACK')
  const high = collect(session.subscribe('up/#', 2, (q) => grants.push(q)))
  await until(() => grants.length === 2, 'second SUBACK')
  t.deepEqual(grants, [0, 2])
  t.deepEqual(session.subscriptions(), [{ filter: 'up/#', qos: 2, granted: 2, refs: 2 }])
  low.subscription.unsubscribe()
  high.subscription.unsubscribe()
})
