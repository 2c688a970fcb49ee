/**
 * The connection source against real brokers: aedes in-process (MQTT 3.1.1) and Mosquitto (MQTT 5) when it is
 * installed. No mocked MQTT client: what a Link sends is checked by an independent mqtt.js client, and what
 * reaches the wire by a TCP proxy that frames the client's packets.
 *
 * Learned here (aedes 1.2, Mosquitto 2.0.11, mqtt.js 5.16):
 * - Mosquitto answers a wrong password with "not authorized" (5 on 3.1.1, 135 on 5), never with 4 / 134:
 *   with credentials in the CONNECT we report AuthenticationFailed, without them NotAuthorized.
 * - `auto` against a listener that never answers costs two connect timeouts (the MQTT 5 one capped at
 *   SILENT_REFUSAL_MS), and the listener sees a level-5 CONNECT, then a level-4 one.
 */
import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import mqtt from 'mqtt'
import type { IPublishPacket, MqttClient } from 'mqtt'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net'
import { promisify } from 'node:util'
import type { Observable, Subscription } from 'rxjs'
import { firstValueFrom } from 'rxjs'
import type { AppError } from '../../../src/errors.js'
import { parseConnectionString } from '../../../src/mqtt/url.js'
import { connect, connectNegotiated, SILENT_REFUSAL_MS } from '../../../src/streams/sources/connection.js'
import type { ConnectOptions, Link, Message, ProtocolVersion } from '../../../src/streams/types.js'
import { brokerMatrix, freePort, mosquittoPath, startAedes, startMosquitto, type TestBroker } from '../../helpers/brokers.js'

const hasMosquitto = mosquittoPath() !== undefined
const execFileAsync = promisify(execFile)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------------------
// helpers

function options(url: string, extra: Partial<ConnectOptions> = {}): ConnectOptions {
  const parsed = parseConnectionString(url)
  if (E.isLeft(parsed)) throw new Error(`bad test url ${url}`)
  return {
    url: parsed.right,
    clientId: `conn-${randomUUID().slice(0, 8)}`,
    protocolVersion: 4,
    keepaliveSeconds: 30,
    clean: true,
    connectTimeoutMs: 3_000,
    ...extra,
  }
}

type End = { readonly kind: 'complete' } | { readonly kind: 'error'; readonly error: AppError }

interface Opened {
  readonly link: Link
  readonly subscription: Subscription
  /** How the source ended (it never does while the link is up and subscribed). */
  readonly ended: Promise<End>
}

/** Subscribes and resolves with the first Link, keeping the subscription (the connection) open. */
function open(source: Observable<Link>): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let settle: (end: End) => void = () => undefined
    const ended = new Promise<End>((r) => (settle = r))
    const holder: { subscription?: Subscription } = {}
    holder.subscription = source.subscribe({
      next: (link) => {
        if (holder.subscription === undefined) throw new Error('the connection source emitted synchronously')
        resolve({ link, subscription: holder.subscription, ended })
      },
      error: (error: AppError) => {
        settle({ kind: 'error', error })
        reject(error as unknown as Error)
      },
      complete: () => settle({ kind: 'complete' }),
    })
  })
}

/** The error the source fails with; fails the test when it connects instead. */
async function failure(source: Observable<Link>): Promise<AppError> {
  try {
    await firstValueFrom(source)
  } catch (e) {
    return e as AppError
  }
  throw new Error('connected, but a failure was expected')
}

/** An independent mqtt.js client that records what it receives on `filter`. */
async function witness(url: string, filter: string, protocolVersion: 4 | 5): Promise<{ client: MqttClient; next: () => Promise<IPublishPacket> }> {
  const client = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0, clientId: `wit-${randomUUID().slice(0, 8)}` })
  const queue: IPublishPacket[] = []
  const waiting: Array<(p: IPublishPacket) => void> = []
  client.on('message', (_topic, _payload, packet) => {
    const w = waiting.shift()
    if (w !== undefined) w(packet)
    else queue.push(packet)
  })
  await client.subscribeAsync(filter, { qos: 2 })
  const next = (): Promise<IPublishPacket> => {
    const queued = queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the witness got nothing on ${filter} within 5 s`)), 5_000)
      waiting.push((p) => {
        clearTimeout(timer)
        resolve(p)
      })
    })
  }
  return { client, next }
}

/** The first message of `messages$` that `match` accepts, within `timeoutMs`. */
function nextMessage(messages$: Observable<Message>, match: (m: Message) => boolean, timeoutMs = 5_000): Promise<Message> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe()
      reject(new Error(`no matching message within ${timeoutMs} ms`))
    }, timeoutMs)
    const sub = messages$.subscribe((m) => {
      if (!match(m)) return
      clearTimeout(timer)
      sub.unsubscribe()
      resolve(m)
    })
  })
}

const PACKET_TYPES = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'] as const

/** Splits a byte stream into MQTT control packet type names (fixed header + varint remaining length). */
function packetTypes(bytes: Buffer): string[] {
  const types: string[] = []
  let i = 0
  while (i < bytes.length) {
    const first = bytes[i] ?? 0
    let length = 0
    let shift = 0
    let j = i + 1
    for (;;) {
      const b = bytes[j++]
      if (b === undefined) return [...types, 'truncated']
      length += (b & 0x7f) << shift
      shift += 7
      if ((b & 0x80) === 0) break
    }
    types.push(PACKET_TYPES[first >> 4] ?? 'unknown')
    i = j + length
  }
  return types
}

interface ProxiedConnection {
  readonly fromClient: Buffer[]
  /** Resolves when the client side of the TCP connection has closed. */
  readonly clientGone: Promise<void>
}

/** A TCP proxy in front of a broker that records each connection and what the client sent on it. */
async function startProxy(targetPort: number): Promise<{ url: string; connections: ProxiedConnection[]; close: () => Promise<void> }> {
  const connections: ProxiedConnection[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = tcpConnect({ port: targetPort, host: '127.0.0.1' })
    sockets.add(client).add(upstream)
    const fromClient: Buffer[] = []
    let gone: () => void = () => undefined
    connections.push({ fromClient, clientGone: new Promise<void>((resolve) => (gone = resolve)) })
    client.on('data', (d: Buffer) => {
      fromClient.push(d)
      upstream.write(d)
    })
    upstream.on('data', (d: Buffer) => client.write(d))
    client.on('close', () => {
      gone()
      upstream.end()
    })
    upstream.on('close', () => client.destroy())
    client.on('error', () => undefined)
    upstream.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: `mqtt://127.0.0.1:${port}`,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/**
 * A TCP listener that accepts and never answers ('silent'), or hangs up as soon as CONNECT arrives ('hangup'),
 * recording the MQTT protocol level of each CONNECT it gets.
 */
async function startSilentListener(mode: 'silent' | 'hangup' = 'silent'): Promise<{ url: string; levels: number[]; close: () => Promise<void> }> {
  const levels: number[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    let head = Buffer.alloc(0)
    let recorded = false
    socket.on('data', (d: Buffer) => {
      head = Buffer.concat([head, d])
      // CONNECT: 0x10, remaining length (varint), 00 04 'MQTT', protocol level
      let i = 1
      while (i < head.length && ((head[i] ?? 0) & 0x80) !== 0) i++
      const level = head[i + 7]
      if (!recorded && level !== undefined) {
        recorded = true
        levels.push(level)
        if (mode === 'hangup') socket.destroy()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: `mqtt://127.0.0.1:${port}`,
    levels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

const versionOf = (kind: TestBroker['kind']): ProtocolVersion => (kind === 'aedes' ? 4 : 5)

// ---------------------------------------------------------------------------------------------------------------
// connecting

for (const b of brokerMatrix()) {
  const version = versionOf(b.name)

  test(`connect emits a Link with the CONNACK on ${b.name} (MQTT ${version === 4 ? '3.1.1' : '5'})`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    const { link, subscription } = await open(connect(options(broker.url, { protocolVersion: version })))
    t.teardown(() => subscription.unsubscribe())
    t.is(link.connack.protocolVersion, version)
    t.false(link.connack.sessionPresent)
    if (version === 5) t.log('Mosquitto CONNACK:', JSON.stringify(link.connack))
  })

  test(`connectNegotiated with auto speaks MQTT ${version === 4 ? '3.1.1 to aedes' : '5 to Mosquitto'}`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    const started = Date.now()
    const { link, subscription } = await open(connectNegotiated({ ...options(broker.url, { connectTimeoutMs: 10_000 }), protocolVersion: 'auto' }))
    t.teardown(() => subscription.unsubscribe())
    t.is(link.connack.protocolVersion, version)
    // aedes refuses 5 with a CONNACK at once: the fallback waits for no timeout (SILENT_REFUSAL_MS here)
    t.true(Date.now() - started < SILENT_REFUSAL_MS, `took ${Date.now() - started} ms`)
  })

  test(`connect fails with ConnectionLost when ${b.name} goes away`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    const { subscription, ended } = await open(connect(options(broker.url, { protocolVersion: version })))
    t.teardown(() => subscription.unsubscribe())
    await broker.stop()
    const end = await ended
    t.is(end.kind, 'error')
    if (end.kind === 'error') t.is(end.error._tag, 'ConnectionLost')
  })
}

test('connect to a closed port fails quickly with BrokerUnreachable', async (t) => {
  const port = await freePort()
  const started = Date.now()
  const e = await failure(connect(options(`mqtt://127.0.0.1:${port}`, { connectTimeoutMs: 10_000 })))
  t.is(e._tag, 'BrokerUnreachable')
  if (e._tag === 'BrokerUnreachable') t.is(e.cause, 'tcp refused')
  t.regex(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`))
  t.true(Date.now() - started < 2_000, `took ${Date.now() - started} ms: no timeout involved`)
})

test('a refused connection leaves nothing behind that keeps the process alive', async (t) => {
  // in a child process: mqtt.js's CONNACK timer (connectTimeoutMs + 5 s) must be cleared by the teardown
  const port = await freePort()
  const module = new URL('../../../src/streams/sources/connection.js', import.meta.url).href
  const script = [
    `import { connect } from ${JSON.stringify(module)}`,
    `const url = { transport: 'mqtt', host: '127.0.0.1', port: ${port} }`,
    `connect({ url, clientId: 'leak', protocolVersion: 4, keepaliveSeconds: 30, clean: true, connectTimeoutMs: 20000 })`,
    `  .subscribe({ error: (e) => console.log(e._tag) })`,
  ].join('\n')
  const started = Date.now()
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 })
  const took = Date.now() - started
  t.is(stdout.trim(), 'BrokerUnreachable')
  t.true(took < 10_000, `the process lived ${took} ms after a refused connect`)
})

test('connectNegotiated with auto falls back to 3.1.1 after a silent MQTT 5 CONNECT, then times out in the connack phase', async (t) => {
  const listener = await startSilentListener()
  t.teardown(() => listener.close())
  const connectTimeoutMs = 1_500
  t.true(connectTimeoutMs < SILENT_REFUSAL_MS, 'the MQTT 5 attempt is capped by the connect timeout')
  const started = Date.now()
  const e = await failure(connectNegotiated({ ...options(listener.url, { connectTimeoutMs }), protocolVersion: 'auto' }))
  const took = Date.now() - started
  t.is(e._tag, 'ConnectTimeout')
  if (e._tag === 'ConnectTimeout') {
    t.is(e.phase, 'connack')
    t.is(e.timeoutMs, connectTimeoutMs)
  }
  t.deepEqual(listener.levels, [5, 4], 'an MQTT 5 CONNECT, then an MQTT 3.1.1 one')
  t.true(took >= 2 * connectTimeoutMs - 50 && took < 2 * connectTimeoutMs + 2_000, `took ${took} ms`)
})

test('connectNegotiated with auto falls back to 3.1.1 when the socket closes after an MQTT 5 CONNECT', async (t) => {
  const listener = await startSilentListener('hangup')
  t.teardown(() => listener.close())
  const started = Date.now()
  const e = await failure(connectNegotiated({ ...options(listener.url, { connectTimeoutMs: 10_000 }), protocolVersion: 'auto' }))
  t.is(e._tag, 'BrokerUnreachable')
  if (e._tag === 'BrokerUnreachable') t.is(e.cause, 'closed before CONNACK')
  t.deepEqual(listener.levels, [5, 4])
  t.true(Date.now() - started < SILENT_REFUSAL_MS, `took ${Date.now() - started} ms: no timeout involved`)
})

test('connect with an explicit version does not fall back when the broker stays silent', async (t) => {
  const listener = await startSilentListener()
  t.teardown(() => listener.close())
  const e = await failure(connectNegotiated({ ...options(listener.url, { connectTimeoutMs: 500 }), protocolVersion: 5 }))
  t.is(e._tag, 'ConnectTimeout')
  t.deepEqual(listener.levels, [5])
})

test('unsubscribing from a Link ends the client and closes its socket', async (t) => {
  const broker = await startAedes()
  t.teardown(() => broker.close())
  const proxy = await startProxy(broker.port)
  t.teardown(() => proxy.close())
  const { subscription, ended } = await open(connect(options(proxy.url)))
  t.is(proxy.connections.length, 1)
  const conn = proxy.connections[0]
  if (conn === undefined) return t.fail()
  subscription.unsubscribe()
  await conn.clientGone // the client closed its TCP connection
  // a forced end: no DISCONNECT, and the source neither errors nor completes after teardown
  t.deepEqual(packetTypes(Buffer.concat(conn.fromClient)), ['connect'])
  const settled = await Promise.race([ended.then(() => 'ended'), sleep(200).then(() => 'silent')])
  t.is(settled, 'silent')
})

for (const b of brokerMatrix()) {
  test(`disconnect on ${b.name} sends DISCONNECT, closes the socket and completes the source`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    const proxy = await startProxy(broker.port)
    t.teardown(() => proxy.close())
    const { link, subscription, ended } = await open(connect(options(proxy.url, { protocolVersion: versionOf(b.name) })))
    t.teardown(() => subscription.unsubscribe())
    await link.disconnect()
    t.deepEqual(await ended, { kind: 'complete' })
    const conn = proxy.connections[0]
    if (conn === undefined) return t.fail()
    await conn.clientGone
    t.deepEqual(packetTypes(Buffer.concat(conn.fromClient)), ['connect', 'disconnect'])
  })
}

if (hasMosquitto) {
  test('a connection negotiated as MQTT 5 that is lost fails with ConnectionLost and does not come back on 3.1.1', async (t) => {
    const broker = await startMosquitto()
    t.teardown(() => broker.close())
    const o = options(broker.url)
    const links: Link[] = []
    let end: End | undefined
    const sub = connectNegotiated({ ...o, protocolVersion: 'auto' }).subscribe({
      next: (l) => links.push(l),
      error: (error: AppError) => (end = { kind: 'error', error }),
      complete: () => (end = { kind: 'complete' }),
    })
    t.teardown(() => sub.unsubscribe())
    const deadline = Date.now() + 5_000
    while (links.length === 0 && Date.now() < deadline) await sleep(20)
    t.is(links[0]?.connack.protocolVersion, 5)
    // another client takes the client id over: Mosquitto drops ours while it stays up
    const thief = await mqtt.connectAsync(broker.url, { clientId: o.clientId, reconnectPeriod: 0 })
    t.teardown(() => thief.end(true))
    while (end === undefined && Date.now() < deadline) await sleep(20)
    await sleep(300) // a (wrong) 3.1.1 retry would have connected by now
    t.is(links.length, 1, 'no second Link on MQTT 3.1.1')
    t.is(end?.kind, 'error')
    if (end?.kind === 'error') t.is(end.error._tag, 'ConnectionLost')
    t.true(thief.connected, 'the thief was not kicked out by a reconnect')
  })
}

// ---------------------------------------------------------------------------------------------------------------
// refusals

if (hasMosquitto) {
  test('Mosquitto refuses a wrong password: AuthenticationFailed on MQTT 3.1.1 and 5, no fallback with auto', async (t) => {
    const broker = await startMosquitto({ users: { alice: 'right-password' } })
    t.teardown(() => broker.close())
    const wrong = { username: 'alice', password: 'wrong-password' }
    const v4 = await failure(connect(options(broker.url, { ...wrong, protocolVersion: 4 })))
    t.is(v4._tag, 'AuthenticationFailed')
    if (v4._tag === 'AuthenticationFailed') t.is(v4.reasonCode, 5) // "not authorized": Mosquitto never says 4
    const v5 = await failure(connect(options(broker.url, { ...wrong, protocolVersion: 5 })))
    t.is(v5._tag, 'AuthenticationFailed')
    if (v5._tag === 'AuthenticationFailed') t.is(v5.reasonCode, 135)
    const auto = await failure(connectNegotiated({ ...options(broker.url, wrong), protocolVersion: 'auto' }))
    t.is(auto._tag, 'AuthenticationFailed')
    if (auto._tag === 'AuthenticationFailed') t.is(auto.reasonCode, 135, 'refused on MQTT 5: no 3.1.1 retry')
    const unknownUser = await failure(connect(options(broker.url, { username: 'mallory', password: 'right-password' })))
    t.is(unknownUser._tag, 'AuthenticationFailed')
    for (const e of [v4, v5, auto, unknownUser]) t.false(JSON.stringify(e).includes('-password'), e.message)
    const { link, subscription } = await open(connect(options(broker.url, { username: 'alice', password: 'right-password', protocolVersion: 5 })))
    subscription.unsubscribe()
    t.is(link.connack.protocolVersion, 5)
  })

  test('Mosquitto refuses an anonymous client with NotAuthorized and a hint to supply credentials', async (t) => {
    const broker = await startMosquitto({ users: { alice: 'right-password' } })
    t.teardown(() => broker.close())
    const e = await failure(connectNegotiated({ ...options(broker.url), protocolVersion: 'auto' }))
    t.is(e._tag, 'NotAuthorized')
    t.regex(e.hint ?? '', /username and password/)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// publishing and receiving

for (const b of brokerMatrix()) {
  const version = versionOf(b.name)

  test(`a Link on ${b.name} publishes at QoS 0, 1 and 2 and gets PUBACK and PUBCOMP`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    const w = await witness(broker.url, 'pub/#', version === 5 ? 5 : 4)
    t.teardown(() => w.client.end(true))
    const { link, subscription } = await open(connect(options(broker.url, { protocolVersion: version })))
    t.teardown(() => subscription.unsubscribe())

    const q0 = await firstValueFrom(link.publish('pub/q0', Buffer.from('zero'), { qos: 0, retain: false }))
    t.is(q0, undefined)
    const got0 = await w.next()
    t.is(got0.topic, 'pub/q0')
    t.is(got0.payload.toString(), 'zero')
    t.is(got0.qos, 0)

    const q1 = await firstValueFrom(link.publish('pub/q1', Buffer.from('one'), { qos: 1, retain: false }))
    t.deepEqual(q1, { packet: 'puback', reasonCode: 0, reason: 'Success' })
    const got1 = await w.next()
    t.is(got1.topic, 'pub/q1')
    t.is(got1.qos, 1)

    const q2 = await firstValueFrom(link.publish('pub/q2', Buffer.from([0, 1, 2, 255]), { qos: 2, retain: false }))
    t.deepEqual(q2, { packet: 'pubcomp', reasonCode: 0, reason: 'Success' })
    const got2 = await w.next()
    t.is(got2.topic, 'pub/q2')
    t.is(got2.qos, 2)
    t.deepEqual([...got2.payload], [0, 1, 2, 255])
  })

  test(`a Link on ${b.name} subscribes, gets the granted QoS and receives messages and retained ones`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    t.teardown(() => publisher.end(true))
    await publisher.publishAsync('sub/retained', 'kept', { qos: 1, retain: true })
    const { link, subscription } = await open(connect(options(broker.url, { protocolVersion: version })))
    t.teardown(() => subscription.unsubscribe())

    const retained = nextMessage(link.messages$, (m) => m.topic === 'sub/retained')
    t.is(await firstValueFrom(link.subscribe('sub/#', 1)), 1)
    const r = await retained
    t.true(r.retain)
    t.is(r.payload.toString(), 'kept')

    const live = nextMessage(link.messages$, (m) => m.topic === 'sub/live')
    await publisher.publishAsync('sub/live', 'now', { qos: 1 })
    const m = await live
    t.false(m.retain)
    t.is(m.qos, 1)
    t.is(m.payload.toString(), 'now')
    t.true(Math.abs(m.receivedAt - Date.now()) < 5_000)
    t.is(m.properties, undefined)

    await firstValueFrom(link.unsubscribe('sub/#'), { defaultValue: undefined })
    const late = nextMessage(link.messages$, (x) => x.topic === 'sub/late', 300).then(
      () => 'received',
      () => 'nothing',
    )
    await publisher.publishAsync('sub/late', 'late', { qos: 1 })
    t.is(await late, 'nothing', 'no message after UNSUBSCRIBE')
  })
}

if (hasMosquitto) {
  test('MQTT 5 properties published by a Link reach a v5 subscriber and the Message of another Link', async (t) => {
    const broker = await startMosquitto()
    t.teardown(() => broker.close())
    const w = await witness(broker.url, 'props/#', 5)
    t.teardown(() => w.client.end(true))
    const sender = await open(connect(options(broker.url, { protocolVersion: 5 })))
    t.teardown(() => sender.subscription.unsubscribe())
    const receiver = await open(connect(options(broker.url, { protocolVersion: 5 })))
    t.teardown(() => receiver.subscription.unsubscribe())
    await firstValueFrom(receiver.link.subscribe('props/#', 1))
    const received = nextMessage(receiver.link.messages$, (m) => m.topic === 'props/x')

    const ack = await firstValueFrom(
      sender.link.publish('props/x', Buffer.from('{"t":21.5}'), {
        qos: 1,
        retain: false,
        properties: {
          contentType: 'application/json',
          userProperties: { source: 'test', unit: 'celsius' },
          responseTopic: 'props/reply',
          correlationData: Buffer.from('req-42'),
          messageExpiryInterval: 120,
          payloadFormatIndicator: true,
        },
      }),
    )
    t.is(ack?.packet, 'puback')

    const p = (await w.next()).properties ?? {}
    t.is(p.contentType, 'application/json')
    t.deepEqual(p.userProperties, { source: 'test', unit: 'celsius' })
    t.is(p.responseTopic, 'props/reply')
    t.is(p.correlationData?.toString(), 'req-42')
    t.true((p.messageExpiryInterval ?? 0) > 100 && (p.messageExpiryInterval ?? 0) <= 120, `expiry ${String(p.messageExpiryInterval)}`)
    t.true(p.payloadFormatIndicator)

    const m = await received
    t.is(m.properties?.contentType, 'application/json')
    t.deepEqual(m.properties?.userProperties, { source: 'test', unit: 'celsius' })
    t.is(m.properties?.responseTopic, 'props/reply')
    t.true(Buffer.isBuffer(m.properties?.correlationData))
    t.is(m.properties?.correlationData?.toString(), 'req-42')
    t.true((m.properties?.messageExpiryInterval ?? 0) > 100 && (m.properties?.messageExpiryInterval ?? 0) <= 120)
    t.true(m.properties?.payloadFormatIndicator)
  })

  test('MQTT 5 properties of another client show up in the Message of a Link subscription', async (t) => {
    const broker = await startMosquitto()
    t.teardown(() => broker.close())
    const { link, subscription } = await open(connect(options(broker.url, { protocolVersion: 5 })))
    t.teardown(() => subscription.unsubscribe())
    await firstValueFrom(link.subscribe('ext/#', 0))
    const received = nextMessage(link.messages$, (m) => m.topic === 'ext/a')
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 })
    t.teardown(() => publisher.end(true))
    await publisher.publishAsync('ext/a', 'x', {
      qos: 1,
      properties: { contentType: 'text/plain', userProperties: { k: ['v1', 'v2'] }, responseTopic: 'ext/r', correlationData: Buffer.from([1, 2]) },
    })
    const m = await received
    t.is(m.properties?.contentType, 'text/plain')
    t.deepEqual(m.properties?.userProperties, { k: ['v1', 'v2'] })
    t.is(m.properties?.responseTopic, 'ext/r')
    t.deepEqual([...(m.properties?.correlationData ?? [])], [1, 2])
    t.is(m.properties?.messageExpiryInterval, undefined)
  })
}

test('a Link on MQTT 3.1.1 does not send MQTT 5 properties', async (t) => {
  const broker = await startAedes()
  t.teardown(() => broker.close())
  const { link, subscription } = await open(connect(options(broker.url, { protocolVersion: 4 })))
  t.teardown(() => subscription.unsubscribe())
  await firstValueFrom(link.subscribe('v4/#', 0))
  const received = nextMessage(link.messages$, (m) => m.topic === 'v4/x')
  await firstValueFrom(link.publish('v4/x', Buffer.from('p'), { qos: 1, retain: false, properties: { contentType: 'text/plain' } }))
  const m = await received
  t.is(m.payload.toString(), 'p')
  t.is(m.properties, undefined)
})
