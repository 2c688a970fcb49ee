/**
 * The session registry against a real broker (aedes in-process, whose events show what the broker sees): the
 * session limit, the optional-session_id rule with a default broker, idle expiry and closing by id.
 */
import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import { randomUUID } from 'node:crypto'
import { asyncScheduler } from 'rxjs'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/demo/broker.js'
import type { AppError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { parseConnectionString } from '../../src/mqtt/url.js'
import { SessionRegistry, type RegistryEvent, type RegistryOptions } from '../../src/sessions/registry.js'
import { createSealer } from '../../src/sessions/secrets.js'
import type { Session, SessionSpec } from '../../src/sessions/session.js'
import { connectNegotiated } from '../../src/streams/sources/connection.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** aedes on a free port, with the client ids it saw connect and disconnect. */
async function startBroker(): Promise<EmbeddedBroker & { connected: string[]; disconnected: string[] }> {
  const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0 })
  const connected: string[] = []
  const disconnected: string[] = []
  broker.aedes.on('client', (c) => connected.push(c.id))
  broker.aedes.on('clientDisconnect', (c) => disconnected.push(c.id))
  return Object.assign(broker, { connected, disconnected })
}

function spec(url: string, extra: Partial<SessionSpec> = {}): SessionSpec {
  const parsed = parseConnectionString(url)
  if (E.isLeft(parsed)) throw new Error(`bad test url ${url}`)
  return {
    url: parsed.right,
    clientId: `reg-${randomUUID().slice(0, 8)}`,
    protocolVersion: 'auto',
    keepaliveSeconds: 10,
    clean: true,
    connectTimeoutMs: 2_000,
    ...extra,
  }
}

function registry(opts: Partial<Omit<RegistryOptions, 'deps'>> = {}): SessionRegistry & { seen: RegistryEvent[] } {
  const r = new SessionRegistry({
    maxSessions: 5,
    ttlMs: 60_000,
    ...opts,
    deps: {
      connect: (o) => connectNegotiated(o, asyncScheduler),
      sealer: createSealer(),
      scheduler: asyncScheduler,
      logger: silentLogger,
      backoff: { baseMs: 100, capMs: 500, jitter: 0 },
    },
  })
  const seen: RegistryEvent[] = []
  r.events$.subscribe((e) => seen.push(e))
  return Object.assign(r, { seen })
}

function right<A>(e: E.Either<AppError, A>): A {
  if (E.isLeft(e)) throw new Error(`expected success, got ${e.left._tag}: ${e.left.message}`)
  return e.right
}

function left<A>(e: E.Either<AppError, A>): AppError {
  if (E.isRight(e)) throw new Error('expected a failure, got success')
  return e.left
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

const closedEvents = (seen: readonly RegistryEvent[]): Array<{ id: string; reason: string }> =>
  seen.flatMap((e) => (e.type === 'closed' ? [{ id: e.session.id, reason: e.reason }] : []))

// ---------------------------------------------------------------------------------------------------------------
// limit

test('the session limit refuses a third session with ResourceLimit and frees a place on close', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry({ maxSessions: 2 })
  t.teardown(() => reg.closeAll())
  const a = right(await reg.open(spec(broker.url)))
  right(await reg.open(spec(broker.url)))
  const third = spec(broker.url)
  const refused = left(await reg.open(third))
  t.is(refused._tag, 'ResourceLimit')
  if (refused._tag === 'ResourceLimit') t.is(refused.limit, 2)
  t.regex(refused.message, /2 sessions/)
  t.false(broker.connected.includes(third.clientId), 'a refused open never reaches the broker')
  t.is(reg.list().length, 2)
  right(await reg.close(a.id))
  right(await reg.open(third))
  t.is(reg.list().length, 2)
})

test('the session limit counts sessions still connecting', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry({ maxSessions: 2 })
  t.teardown(() => reg.closeAll())
  const results = await Promise.all([0, 1, 2].map(() => reg.open(spec(broker.url))))
  t.is(results.filter(E.isRight).length, 2)
  t.deepEqual(
    results.filter(E.isLeft).map((r) => r.left._tag),
    ['ResourceLimit'],
  )
  t.is(broker.connected.length, 2)
})

test('a failed open leaves no session and takes no place', async (t) => {
  const broker = await startBroker()
  const url = broker.url
  await broker.close()
  const reg = registry({ maxSessions: 1 })
  t.teardown(() => reg.closeAll())
  t.is(left(await reg.open(spec(url)))._tag, 'BrokerUnreachable')
  t.is(reg.list().length, 0)
  t.deepEqual(reg.seen, [])
  t.is(left(await reg.open(spec(url)))._tag, 'BrokerUnreachable', 'not ResourceLimit')
})

// ---------------------------------------------------------------------------------------------------------------
// resolve

test('resolve without an id gives the only session, asks for session_id with two, and SessionNotFound with none', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry()
  t.teardown(() => reg.closeAll())

  const none = left(await reg.resolve(undefined))
  t.is(none._tag, 'SessionNotFound')

  const one = right(await reg.open(spec(broker.url)))
  t.is(right(await reg.resolve(undefined)), one)
  t.is(right(await reg.resolve(one.id)), one)

  const two = right(await reg.open(spec(broker.url)))
  const ambiguous = left(await reg.resolve(undefined))
  t.is(ambiguous._tag, 'InvalidInput')
  if (ambiguous._tag === 'InvalidInput') t.deepEqual(ambiguous.fields.map((f) => f.field), ['session_id'])
  t.true(ambiguous.message.includes(one.id) && ambiguous.message.includes(two.id), ambiguous.message)
  t.regex(ambiguous.message, /session_id/)

  const unknown = left(await reg.resolve('no-such-session'))
  t.is(unknown._tag, 'SessionNotFound')
  if (unknown._tag === 'SessionNotFound') t.is(unknown.sessionId, 'no-such-session')
})

test('resolve without an id opens the default broker once, even when called concurrently', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const defaultSpec = spec(broker.url, { name: 'default' })
  let built = 0
  const reg = registry({
    defaultSpec: () => {
      built++
      return defaultSpec
    },
  })
  t.teardown(() => reg.closeAll())

  const results = await Promise.all([reg.resolve(undefined), reg.resolve(undefined), reg.resolve(undefined)])
  const sessions = results.map(right)
  const first = sessions[0] as Session
  t.true(sessions.every((s) => s === first))
  t.true(first.isDefault)
  t.is(first.name, 'default')
  t.is(built, 1)
  t.is(reg.list().length, 1)
  t.is(reg.seen.filter((e) => e.type === 'opened').length, 1)
  t.deepEqual(broker.connected, [defaultSpec.clientId], 'one connection to the broker')

  // with another session open too, the default one is still the answer
  right(await reg.open(spec(broker.url)))
  t.is(right(await reg.resolve(undefined)), first)
  t.is(built, 1)
})

test('resolve reports the default broker failing, and tries again on the next call', async (t) => {
  const broker = await startBroker()
  const url = broker.url
  await broker.close()
  let built = 0
  const reg = registry({
    defaultSpec: () => {
      built++
      return spec(url)
    },
  })
  t.teardown(() => reg.closeAll())
  const [a, b] = await Promise.all([reg.resolve(undefined), reg.resolve(undefined)])
  t.is(left(a)._tag, 'BrokerUnreachable')
  t.is(left(b)._tag, 'BrokerUnreachable')
  t.is(built, 1)
  t.is(left(await reg.resolve(undefined))._tag, 'BrokerUnreachable')
  t.is(built, 2)
  t.is(reg.list().length, 0)
})

// ---------------------------------------------------------------------------------------------------------------
// expiry

test('an idle session is closed after the TTL, the broker sees it go and get says SessionExpired', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry({ ttlMs: 300 })
  t.teardown(() => reg.closeAll())
  const s = spec(broker.url)
  const opened = Date.now()
  const session = right(await reg.open(s))
  await until(() => closedEvents(reg.seen).length === 1, 'expiry', 3_000)
  const took = Date.now() - opened
  t.true(took >= 280 && took < 1_500, `expired after ${took} ms`)
  t.deepEqual(closedEvents(reg.seen), [{ id: session.id, reason: 'expired' }])
  t.is(session.state, 'closed')
  await until(() => broker.disconnected.includes(s.clientId), 'the broker to see the client go')
  const expired = left(reg.get(session.id))
  t.is(expired._tag, 'SessionExpired')
  if (expired._tag === 'SessionExpired') t.is(expired.sessionId, session.id)
  t.is(left(await reg.resolve(session.id))._tag, 'SessionExpired')
  t.is(left(await reg.close(session.id))._tag, 'SessionExpired')
  t.is(reg.list().length, 0)
})

test('a session with an active subscription does not expire, and expires once it is released', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry({ ttlMs: 300 })
  t.teardown(() => reg.closeAll())
  const session = right(await reg.open(spec(broker.url)))
  const subscription = session.subscribe('live/#').subscribe()
  await sleep(900) // three TTLs
  t.is(session.state, 'connected')
  t.true(E.isRight(reg.get(session.id)))
  t.deepEqual(closedEvents(reg.seen), [])

  const released = Date.now()
  subscription.unsubscribe()
  t.is(session.inUse, 0)
  await until(() => closedEvents(reg.seen).length === 1, 'expiry after release', 3_000)
  t.true(Date.now() - released >= 280, 'the idle time counts from the release')
  t.deepEqual(closedEvents(reg.seen), [{ id: session.id, reason: 'expired' }])
  t.is(session.state, 'closed')
})

test('a session in use by a call does not expire', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry({ ttlMs: 300 })
  t.teardown(() => reg.closeAll())
  const session = right(await reg.open(spec(broker.url)))
  session.inUse++
  await sleep(800)
  t.is(session.state, 'connected')
  session.inUse--
  await until(() => session.state === 'closed', 'expiry after the call', 3_000)
  t.is(left(reg.get(session.id))._tag, 'SessionExpired')
})

test('using a session resets its idle time', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry({ ttlMs: 600 })
  t.teardown(() => reg.closeAll())
  const session = right(await reg.open(spec(broker.url)))
  // the idle time counts from construction, before the connect: use the session at once
  const opened = Date.now()
  while (Date.now() - opened < 1_500) {
    right(await session.publish('touch/x', Buffer.from('.'), { qos: 0, retain: false }))
    await sleep(100)
  }
  t.is(session.state, 'connected', 'alive 1.5 s after opening, more than two TTLs')
  await until(() => session.state === 'closed', 'expiry', 3_000)
})

// ---------------------------------------------------------------------------------------------------------------
// closing

test('closing a session by id disconnects it, emits closed and get then says SessionNotFound', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry()
  t.teardown(() => reg.closeAll())
  const s = spec(broker.url)
  const session = right(await reg.open(s))
  const other = right(await reg.open(spec(broker.url)))
  t.is(right(await reg.close(session.id)), session)
  t.is(session.state, 'closed')
  t.deepEqual(closedEvents(reg.seen), [{ id: session.id, reason: 'closed' }])
  await until(() => broker.disconnected.includes(s.clientId), 'the broker to see the client go')
  const gone = left(reg.get(session.id))
  t.is(gone._tag, 'SessionNotFound')
  t.is(left(await reg.close(session.id))._tag, 'SessionNotFound')
  t.deepEqual(reg.list(), [other])
  t.is(right(await reg.resolve(undefined)), other, 'the one left is the only session now')
})

test('a session closed on its own leaves the registry with a failed event', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry()
  t.teardown(() => reg.closeAll())
  const session = right(await reg.open(spec(broker.url)))
  await session.close()
  t.deepEqual(closedEvents(reg.seen), [{ id: session.id, reason: 'failed' }])
  t.is(left(reg.get(session.id))._tag, 'SessionNotFound')
})

test('closeAll closes every session and ends the events', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const reg = registry()
  const sessions = [right(await reg.open(spec(broker.url))), right(await reg.open(spec(broker.url)))]
  let ended = false
  reg.events$.subscribe({ complete: () => (ended = true) })
  await reg.closeAll()
  t.true(sessions.every((s) => s.state === 'closed'))
  t.is(reg.list().length, 0)
  t.true(ended)
  t.deepEqual(
    closedEvents(reg.seen).map((e) => e.reason),
    ['closed', 'closed'],
  )
  await until(() => broker.disconnected.length === 2, 'both clients to go')
})
