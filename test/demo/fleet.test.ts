import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import test from 'ava'
import { connect, type MqttClient } from 'mqtt'
import { startDemo, type Demo } from '../../src/demo/index.js'
import { randomWalk, seededRandom } from '../../src/demo/random.js'
import { createLogger, silentLogger } from '../../src/log.js'

const SPEED = 20
const HOST = '127.0.0.1'

interface Received {
  readonly topic: string
  readonly payload: Buffer
  readonly retain: boolean
}

/** A plain mqtt.js subscriber that remembers everything and can wait for a message it has not seen yet. */
interface Listener {
  readonly messages: readonly Received[]
  /** The first message at index ≥ `from` that matches, waiting up to timeoutMs for it. */
  waitFor(match: (m: Received) => boolean, timeoutMs: number, from?: number): Promise<{ message: Received; index: number }>
  publish(topic: string, payload: string): Promise<void>
  close(): void
}

async function listen(url: string, filter: string): Promise<Listener> {
  const client: MqttClient = connect(url, { reconnectPeriod: 0, protocolVersion: 4 })
  const messages: Received[] = []
  const waiters = new Set<() => void>()
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload, retain: packet.retain })
    for (const wake of waiters) wake()
  })
  await new Promise<void>((resolve, reject) => {
    client.once('error', reject)
    client.once('connect', () => resolve())
  })
  await client.subscribeAsync(filter, { qos: 0 })
  return {
    messages,
    waitFor(match, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        let checked = from
        const check = (): void => {
          for (; checked < messages.length; checked++) {
            const message = messages[checked]
            if (message !== undefined && match(message)) {
              done()
              resolve({ message, index: checked })
              return
            }
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no matching message within ${timeoutMs} ms (${messages.length} seen)`))
        }, timeoutMs)
        const done = (): void => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    async publish(topic, payload) {
      await client.publishAsync(topic, payload, { qos: 1 })
    },
    close() {
      client.end(true)
    },
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const text = (m: Received): string => m.payload.toString('utf8')
function json(m: Received): Record<string, unknown> {
  const value: unknown = JSON.parse(text(m))
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {}
}

function occupiedPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => resolve(server))
  })
}

const portOf = (server: Server): number => {
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, HOST, () => server.close(() => resolve(true)))
  })
}

let shared: Demo | undefined
const demo = (): Demo => {
  if (shared === undefined) throw new Error('the shared demo did not start')
  return shared
}

test.before(async () => {
  shared = await startDemo({ port: 0, logger: silentLogger, speed: SPEED })
})

test.after.always(async () => {
  await shared?.close()
})

test('the fleet simulates at least 30 devices in every style, with unique ids', (t) => {
  const { devices } = demo().fleet
  t.true(devices.length >= 30, `${devices.length} devices`)
  t.is(new Set(devices.map((d) => d.id)).size, devices.length)
  t.deepEqual([...new Set(devices.map((d) => d.style))].sort(), ['generic', 'homeassistant', 'plant', 'tasmota', 'zigbee2mqtt'])
  for (const d of devices) t.true(d.topics.length > 0, `${d.id} names its topics`)
})

test('retained availability and discovery topics are there as soon as a client subscribes to #', async (t) => {
  const sub = await listen(demo().url, '#')
  t.teardown(() => sub.close())
  const expected: Record<string, string> = {
    'zigbee2mqtt/bridge/state': '{"state":"online"}',
    'zigbee2mqtt/living_room_temp/availability': '{"state":"online"}',
    'zigbee2mqtt/hallway_motion/availability': '{"state":"online"}',
    'tele/tasmota_pool_pump/LWT': 'Online',
    'tele/tasmota_freezer/LWT': 'Online',
    'homeassistant/sensor/esp_office/availability': 'online',
    'plant/gateway/status': 'online',
  }
  // retained replay follows the SUBACK at once; the wait is generous because CI runs test files in parallel
  for (const [topic, payload] of Object.entries(expected)) {
    const { message } = await sub.waitFor((m) => m.topic === topic && m.retain, 3_000)
    t.is(text(message), payload, topic)
  }
  const { message: config } = await sub.waitFor((m) => m.topic === 'homeassistant/sensor/esp_office/temperature/config' && m.retain, 3_000)
  t.like(json(config), { state_topic: 'homeassistant/sensor/esp_office/state', device_class: 'temperature' })
})

test('dozens of distinct topics appear within two seconds, JSON and plain numbers alike', async (t) => {
  const sub = await listen(demo().url, '#')
  t.teardown(() => sub.close())
  await sleep(2_000)
  const topics = new Set(sub.messages.map((m) => m.topic))
  t.true(topics.size >= 60, `${topics.size} topics`)

  const telemetry = sub.messages.filter((m) => m.topic === 'plant/line1/press01/telemetry')
  // 5/s at speed 20 would be about 200 in two seconds; timers on a busy machine run late, so ask for far fewer (a loaded CI machine gave 18)
  t.true(telemetry.length >= 10, `${telemetry.length} press telemetry messages`)
  const first = telemetry[0]
  if (first !== undefined) {
    const sample = json(first)
    t.is(typeof sample['pressure_bar'], 'number')
    t.is(typeof sample['temp_c'], 'number')
    t.is(typeof sample['cycle'], 'number')
  }
  const rpm = sub.messages.find((m) => m.topic === 'plant/line1/press01/rpm')
  t.regex(rpm === undefined ? '' : text(rpm), /^\d+$/)
  const climate = sub.messages.find((m) => m.topic === 'zigbee2mqtt/living_room_temp')
  t.truthy(climate, 'the living room sensor reported')
  if (climate !== undefined) {
    t.deepEqual(Object.keys(json(climate)).filter((k) => ['temperature', 'humidity', 'battery', 'linkquality'].includes(k)).sort(), [
      'battery',
      'humidity',
      'linkquality',
      'temperature',
    ])
  }
})

test('the flapping device goes offline through its Last Will and comes back online', async (t) => {
  const sub = await listen(demo().url, 'devices/garage-door/availability')
  t.teardown(() => sub.close())
  // the cycle is 60 s of simulated time: 3 s at speed 20
  const offline = await sub.waitFor((m) => text(m) === 'offline', 10_000)
  const online = await sub.waitFor((m) => text(m) === 'online', 5_000, offline.index + 1)
  t.true(online.index > offline.index)
})

test('the boiler reports an error now and then', async (t) => {
  const sub = await listen(demo().url, 'devices/boiler-7/status')
  t.teardown(() => sub.close())
  const { message } = await sub.waitFor((m) => json(m)['level'] === 'error', 10_000)
  t.like(json(message), { level: 'error', code: 'E42', message: 'flame failure' })
})

test('the camera snapshot is binary and not valid UTF-8', async (t) => {
  const sub = await listen(demo().url, 'devices/camera-1/snapshot')
  t.teardown(() => sub.close())
  const { message } = await sub.waitFor(() => true, 5_000)
  t.is(message.payload[0], 0xff)
  t.is(message.payload[1], 0xd8)
  t.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(message.payload))
})

test('a request on demo/rpc/echo/request gets its reply on the response topic, correlation id included', async (t) => {
  const sub = await listen(demo().url, 'demo/rpc/+/response')
  t.teardown(() => sub.close())
  await sub.publish('demo/rpc/echo/request', JSON.stringify({ correlation_id: 'abc-1', hello: 'world' }))
  const { message } = await sub.waitFor((m) => m.topic === 'demo/rpc/echo/response', 3_000)
  t.like(json(message), { correlation_id: 'abc-1', echo: { correlation_id: 'abc-1', hello: 'world' } })

  await sub.publish('demo/rpc/time/request', JSON.stringify({ id: 7 }))
  const { message: time } = await sub.waitFor((m) => m.topic === 'demo/rpc/time/response', 3_000)
  t.is(json(time)['id'], 7)
  t.is(typeof json(time)['epoch_ms'], 'number')
})

test('a Tasmota plug answers POWER commands on stat/<id>/POWER', async (t) => {
  const sub = await listen(demo().url, 'stat/tasmota_heater/POWER')
  t.teardown(() => sub.close())
  const from = sub.messages.length
  await sub.publish('cmnd/tasmota_heater/POWER', 'ON')
  const on = await sub.waitFor((m) => text(m) === 'ON', 3_000, from)
  await sub.publish('cmnd/tasmota_heater/POWER', 'TOGGLE')
  const off = await sub.waitFor((m) => text(m) === 'OFF', 3_000, on.index + 1)
  t.true(off.index > on.index)
})

test('the same seed gives the same random walk, and the walk stays in its bounds', (t) => {
  const walk = (): number[] => {
    const next = randomWalk(seededRandom(42), { start: 20, step: 1, min: 15, max: 25 })
    return Array.from({ length: 500 }, next)
  }
  const a = walk()
  t.deepEqual(a, walk())
  t.true(a.every((v) => v >= 15 && v <= 25))
})

test('when the requested port is taken the demo listens on another and says so in the log', async (t) => {
  const blocker = await occupiedPort()
  t.teardown(() => blocker.close())
  const taken = portOf(blocker)
  const lines: string[] = []
  const other = await startDemo({ port: taken, logger: createLogger('info', {}, (line) => lines.push(line)), speed: SPEED })
  t.teardown(() => other.close())
  t.not(other.port, taken)
  t.true(other.port > 0)
  t.true(other.url.endsWith(`:${other.port}`))
  const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['level'] === 'warn')
  t.like(warning, { requested_port: taken, port: other.port })
  t.regex(String(warning?.['msg']), new RegExp(`${taken}.*taken`))
})

test('close frees the port and is idempotent', async (t) => {
  const own = await startDemo({ port: 0, logger: silentLogger, speed: SPEED })
  t.false(await canListen(own.port))
  await own.close()
  await own.close()
  t.true(await canListen(own.port))
})

test('a process that closes its demo exits promptly, with no handles left open', async (t) => {
  const index = new URL('../../src/demo/index.js', import.meta.url).href
  const log = new URL('../../src/log.js', import.meta.url).href
  // a fresh process is the only clean view of leftover handles: ava's own worker keeps plenty open
  const script = `
    const { startDemo } = await import(${JSON.stringify(index)})
    const { silentLogger } = await import(${JSON.stringify(log)})
    const demo = await startDemo({ port: 0, logger: silentLogger, speed: ${SPEED} })
    await new Promise((resolve) => setTimeout(resolve, 500))
    await demo.close()
    process.stdout.write(String(Date.now()))
  `
  const { closedAt, exitedAt } = await new Promise<{ closedAt: number; exitedAt: number }>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => {
      if (err !== null) reject(err)
      else resolve({ closedAt: Number(stdout), exitedAt: Date.now() })
    })
  })
  t.true(closedAt > 0)
  t.true(exitedAt - closedAt < 2_000, `exited ${exitedAt - closedAt} ms after close`)
})
