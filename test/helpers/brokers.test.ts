/**
 * The broker helper itself, plus facts about brokers the client code relies on.
 *
 * Measured here (aedes 1.2.0, Mosquitto 2.0.11, mqtt.js 5.16.0):
 * - aedes answers an MQTT 5 CONNECT with a **3.1.1-format CONNACK refusal** `20 02 00 01` (return code 1,
 *   "unacceptable protocol version") and then closes the socket, within milliseconds. mqtt.js (protocolVersion 5)
 *   rejects `connectAsync` with `ErrorWithReasonCode` code 1, message "Connection refused: Unacceptable protocol
 *   version". So the 5 → 3.1.1 fallback can key on code 1 (RabbitMQ's silence needs a timeout instead).
 * - Mosquitto with a password file refuses a wrong password, an unknown user and an anonymous client alike with
 *   "Not authorized": mqtt.js `ErrorWithReasonCode` code **5** on MQTT 3.1.1 (and 3.1), code **135** (0x87) on
 *   MQTT 5. It never sends 4 / 134 ("bad user name or password").
 * - mqtt.js `connectAsync` with reconnectPeriod 0 to a closed port rejects with code 'ECONNREFUSED'.
 */
import test from 'ava'
import mqtt from 'mqtt'
import { connect as tcpConnect } from 'node:net'
import {
  brokerMatrix,
  freePort,
  mosquittoPath,
  portAccepts,
  startAedes,
  startMosquitto,
  type TestBroker,
} from './brokers.js'

type ClientOptions = Parameters<typeof mqtt.connectAsync>[1]

/** Connects, then disconnects cleanly; rejects like `connectAsync` does. */
async function connectOnce(url: string, opts: ClientOptions = {}): Promise<void> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3_000, ...opts })
  await client.endAsync()
}

/** The `code` of a connect failure (a CONNACK reason code, or an errno string). */
async function connectFailure(url: string, opts: ClientOptions = {}): Promise<number | string | undefined> {
  try {
    await connectOnce(url, opts)
  } catch (err) {
    if (err instanceof mqtt.ErrorWithReasonCode) return err.code
    if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code
    throw err
  }
  throw new Error('connected, but a refusal was expected')
}

/** Writes raw bytes, collects what comes back until the peer closes or `waitMs` passes. */
function rawExchange(port: number, bytes: number[], waitMs = 2_000): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ port, host: '127.0.0.1' })
    const chunks: Buffer[] = []
    const finish = (closed: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ reply: Buffer.concat(chunks).toString('hex'), closed })
    }
    const timer = setTimeout(() => finish(false), waitMs)
    socket.on('connect', () => socket.write(Buffer.from(bytes)))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('close', () => finish(true))
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

// CONNECT, protocol "MQTT" level 5, clean start, keepalive 60, no properties, client id "p"
const MQTT5_CONNECT = [0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x01, 0x70]

const hasMosquitto = mosquittoPath() !== undefined

test('freePort returns a port nobody listens on', async (t) => {
  const port = await freePort()
  t.true(port > 0 && port < 65_536)
  t.false(await portAccepts(port))
})

for (const b of brokerMatrix()) {
  test(`${b.name} starts on a free port and accepts an MQTT connection`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    t.is(broker.kind, b.name)
    t.is(broker.host, '127.0.0.1')
    t.not(broker.port, 1883)
    t.is(broker.url, `mqtt://127.0.0.1:${broker.port}`)
    await t.notThrowsAsync(connectOnce(broker.url))
  })

  test(`${b.name} starts on the port it is given`, async (t) => {
    const port = await freePort()
    const broker = await b.start({ port })
    t.teardown(() => broker.close())
    t.is(broker.port, port)
    await t.notThrowsAsync(connectOnce(broker.url))
  })

  test(`${b.name} frees the port on stop and comes back on the same port on restart`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    await broker.stop()
    t.false(await portAccepts(broker.port))
    t.is(await connectFailure(broker.url), 'ECONNREFUSED')
    await broker.stop() // a second stop is a no-op
    await broker.restart()
    t.true(await portAccepts(broker.port))
    await t.notThrowsAsync(connectOnce(broker.url))
  })

  test(`${b.name} drops connected clients on stop and a reconnecting client finds it after restart`, async (t) => {
    const broker = await b.start()
    t.teardown(() => broker.close())
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 100, connectTimeout: 3_000 })
    t.teardown(() => client.end(true))
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    await broker.stop()
    await closed
    t.false(client.connected)
    const reconnected = new Promise<void>((resolve) => client.once('connect', () => resolve()))
    await broker.restart()
    await reconnected
    t.true(client.connected)
  })

  test(`${b.name} closes idempotently and refuses a restart afterwards`, async (t) => {
    const broker: TestBroker = await b.start()
    await Promise.all([broker.close(), broker.close()])
    await broker.close()
    t.false(await portAccepts(broker.port))
    await t.throwsAsync(broker.restart(), { message: /after close/ })
  })
}

test('aedes answers an MQTT 5 CONNECT with a 3.1.1 CONNACK refusing the protocol version, then closes', async (t) => {
  const broker = await startAedes()
  t.teardown(() => broker.close())
  // on the wire: CONNACK, remaining length 2, flags 0, return code 1 (unacceptable protocol version), then FIN
  const { reply, closed } = await rawExchange(broker.port, MQTT5_CONNECT)
  t.is(reply, '20020001')
  t.true(closed)
  // what mqtt.js makes of it: ErrorWithReasonCode 1, promptly (no timeout involved)
  const started = Date.now()
  t.is(await connectFailure(broker.url, { protocolVersion: 5 }), 1)
  t.true(Date.now() - started < 2_000)
  // and the 3.1.1 retry works
  await t.notThrowsAsync(connectOnce(broker.url, { protocolVersion: 4 }))
})

if (hasMosquitto) {
  test('mosquitto accepts an MQTT 5 connection', async (t) => {
    const broker = await startMosquitto()
    t.teardown(() => broker.close())
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 })
    t.is(client.options.protocolVersion, 5)
    t.true(client.connected)
    await client.endAsync()
    // an MQTT 5 CONNACK: success, with a property block (remaining length > 2)
    // Mosquitto keeps the connection open after CONNACK: the wait ends it, so give a loaded machine time to answer
    const { reply } = await rawExchange(broker.port, MQTT5_CONNECT, 2_000)
    t.regex(reply, /^20[0-9a-f]{2}0000/)
  })

  test('mosquitto with users refuses a wrong password and accepts the right one', async (t) => {
    const broker = await startMosquitto({ users: { alice: 'secret', bob: 'hunter2' } })
    t.teardown(() => broker.close())
    // Mosquitto 2.0 says "not authorized" for a wrong password, an unknown user and an anonymous client:
    // 5 on MQTT 3.1.1, 135 (0x87) on MQTT 5; never 4 / 134 (bad user name or password)
    t.is(await connectFailure(broker.url, { username: 'alice', password: 'wrong' }), 5)
    t.is(await connectFailure(broker.url, { username: 'mallory', password: 'secret' }), 5)
    t.is(await connectFailure(broker.url), 5)
    t.is(await connectFailure(broker.url, { protocolVersion: 5, username: 'alice', password: 'wrong' }), 135)
    t.is(await connectFailure(broker.url, { protocolVersion: 5 }), 135)
    await t.notThrowsAsync(connectOnce(broker.url, { username: 'alice', password: 'secret' }))
    await t.notThrowsAsync(connectOnce(broker.url, { username: 'bob', password: 'hunter2' }))
    await t.notThrowsAsync(connectOnce(broker.url, { protocolVersion: 5, username: 'bob', password: 'hunter2' }))
  })

  test('mosquitto with users still checks passwords after a restart', async (t) => {
    const broker = await startMosquitto({ users: { alice: 'secret' } })
    t.teardown(() => broker.close())
    await broker.restart()
    t.is(await connectFailure(broker.url, { username: 'alice', password: 'wrong' }), 5)
    await t.notThrowsAsync(connectOnce(broker.url, { username: 'alice', password: 'secret' }))
  })

  test('mosquitto publishes $SYS every second by default', async (t) => {
    const broker = await startMosquitto()
    t.teardown(() => broker.close())
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    t.teardown(() => client.end(true))
    const uptimes: string[] = []
    const twoUpdates = new Promise<void>((resolve) =>
      client.on('message', (topic, payload) => {
        if (topic === '$SYS/broker/uptime') uptimes.push(payload.toString())
        if (uptimes.length >= 2) resolve()
      }),
    )
    await client.subscribeAsync('$SYS/broker/uptime')
    await twoUpdates
    t.true(uptimes.length >= 2)
  })

  test('mosquitto stops gracefully on SIGTERM too', async (t) => {
    const broker = await startMosquitto()
    t.teardown(() => broker.close())
    await broker.stop('SIGTERM')
    t.false(await portAccepts(broker.port))
  })

  test('mosquitto fails to start with its own error message when the configuration is bad', async (t) => {
    await t.throwsAsync(startMosquitto({ extraConfig: ['no_such_option true'] }), {
      message: /exited during start[\s\S]*no_such_option/,
    })
  })

  test('mosquitto fails to start on a port that is taken', async (t) => {
    const other = await startAedes()
    t.teardown(() => other.close())
    await t.throwsAsync(startMosquitto({ port: other.port }), { message: /already taken/ })
  })

  test('mosquitto fails to restart with its own error message when its port was taken meanwhile', async (t) => {
    const broker = await startMosquitto()
    t.teardown(() => broker.close())
    await broker.stop()
    const squatter = await startAedes({ port: broker.port })
    t.teardown(() => squatter.close())
    // the port accepts (aedes), but Mosquitto never says it is running: the helper must not be fooled
    await t.throwsAsync(broker.restart(), { message: /exited during start[\s\S]*Address already in use/ })
    await squatter.close()
    await broker.restart()
    await t.notThrowsAsync(connectOnce(broker.url, { protocolVersion: 5 }))
  })
} else {
  test('mosquitto tests are left out because mosquitto is not installed', (t) => {
    t.log('mosquitto not found on PATH nor at /usr/sbin/mosquitto: only aedes was tested')
    t.is(brokerMatrix().length, 1)
  })
}
