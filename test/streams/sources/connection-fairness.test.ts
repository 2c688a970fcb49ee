/**
 * The connection source under a burst: message handling yields to the event loop slice by slice (so stdin,
 * timers and the HTTP server get their turn), loses nothing doing so, and hands out payloads that own their
 * bytes instead of views into the 64 KB socket reads they arrived in.
 *
 * The burst is a retained replay: the subscriber blocks its event loop on the first message, so the rest piles
 * up in the socket and later reads are full 64 KB chunks of hundreds of messages, which mqtt.js would otherwise
 * handle in one synchronous run. Slices are counted in messages (an injected clock), not in milliseconds.
 */
import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import mqtt from 'mqtt'
import { randomUUID } from 'node:crypto'
import { asyncScheduler, firstValueFrom, type Subscription } from 'rxjs'
import { parseConnectionString } from '../../../src/mqtt/url.js'
import { connectNegotiated, DEFAULT_FAIRNESS, type Fairness } from '../../../src/streams/sources/connection.js'
import type { ConnectOptions, Link, Message } from '../../../src/streams/types.js'
import { mosquittoPath, startAedes, startMosquitto, type TestBroker } from '../../helpers/brokers.js'

const SLICE_MESSAGES = 50
const BURST = 5_000
const BLOCK_MS = 300

function options(url: string): ConnectOptions & { protocolVersion: 4 } {
  const parsed = parseConnectionString(url)
  if (E.isLeft(parsed)) throw new Error(`bad test url ${url}`)
  return { url: parsed.right, clientId: `fair-${randomUUID().slice(0, 8)}`, protocolVersion: 4, keepaliveSeconds: 30, clean: true, connectTimeoutMs: 3_000 }
}

/** A clock that reads the number of messages delivered so far: a slice of `n` units is `n` messages. */
function countingFairness(n: number, delivered: () => number): Fairness {
  return { sliceMs: n, now: delivered, yieldTo: (resume) => void setImmediate(resume) }
}

/** Mosquitto (another process, so the replay really piles up in the socket) when installed, else aedes. */
async function startBroker(): Promise<TestBroker> {
  // nothing dropped for a subscriber that is behind: the test counts every message
  return mosquittoPath() !== undefined ? startMosquitto({ extraConfig: ['max_queued_messages 0'], log: false }) : startAedes()
}

/** Retains `BURST` small messages under burst/ plus a few bigger ones; resolves once the broker has them all. */
async function retainBurst(url: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>()
  const publisher = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  try {
    for (let i = 0; i < BURST; i++) {
      const payload = `{"seq":${i},"v":${(i * 7) % 1000},"pad":"xxxxxxxx"}`
      sizes.set(`burst/${i}`, payload.length)
      publisher.publish(`burst/${i}`, payload, { qos: 0, retain: true })
    }
    for (const size of [20_000, 100_000]) {
      sizes.set(`burst/big/${size}`, size)
      publisher.publish(`burst/big/${size}`, Buffer.alloc(size, 7), { qos: 0, retain: true })
    }
    // a PUBACK after them: the broker has handled everything this connection sent before
    sizes.set('burst/last', 4)
    await publisher.publishAsync('burst/last', 'last', { qos: 1, retain: true })
  } finally {
    await publisher.endAsync()
  }
  return sizes
}

interface Burst {
  readonly received: Message[]
  /** The most messages handled between two runs of a recurring setImmediate. */
  readonly maxBetweenTurns: number
}

/** Subscribes to burst/#, blocks the loop on the first message, and collects `expected` messages into `received`. */
async function receiveBurst(link: Link, expected: number, received: Message[] = []): Promise<Burst> {
  let sinceTurn = 0
  let maxBetweenTurns = 0
  let probing = true
  const probe = (): void => {
    maxBetweenTurns = Math.max(maxBetweenTurns, sinceTurn)
    sinceTurn = 0
    if (probing) setImmediate(probe)
  }
  let subscription: Subscription | undefined
  try {
    const all = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${received.length} of ${expected} messages within 20 s`)), 20_000)
      subscription = link.messages$.subscribe((m) => {
        if (received.length === 0) {
          // everything the broker sends meanwhile waits in the socket for the next reads
          const until = performance.now() + BLOCK_MS
          while (performance.now() < until);
          setImmediate(probe)
        }
        received.push(m)
        sinceTurn++
        if (received.length === expected) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    await firstValueFrom(link.subscribe('burst/#', 0))
    await all
  } finally {
    probing = false
    subscription?.unsubscribe()
  }
  return { received, maxBetweenTurns }
}

test('a burst is handled in slices: the event loop turns at least every slice of messages, and nothing is lost', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const sizes = await retainBurst(broker.url)
  const delivered: Message[] = []
  const fairness = countingFairness(SLICE_MESSAGES, () => delivered.length)
  const connection = connectNegotiated({ ...options(broker.url), protocolVersion: 'auto' }, asyncScheduler, fairness)
  const link = await new Promise<Link>((resolve, reject) => {
    const sub = connection.subscribe({ next: resolve, error: reject })
    t.teardown(() => sub.unsubscribe())
  })

  const { received, maxBetweenTurns } = await receiveBurst(link, sizes.size, delivered)

  t.is(new Set(received.map((m) => m.topic)).size, sizes.size)
  for (const m of received) t.is(sizes.get(m.topic), m.payload.length, m.topic)
  t.log(`${received.length} messages; at most ${maxBetweenTurns} between two event-loop turns`)
  // two slices (one resumed, one started by a socket read in the same turn), each overrun by at most the 16
  // messages between clock reads; unsliced, one 64 KB read of this burst is over 1,000 messages in one go
  t.true(maxBetweenTurns <= 2 * (SLICE_MESSAGES + 16), `${maxBetweenTurns} messages between two turns of the event loop`)
})

test('every payload owns its bytes: none is a view into a much larger socket read', async (t) => {
  const broker = await startBroker()
  t.teardown(() => broker.close())
  const sizes = await retainBurst(broker.url)
  const connection = connectNegotiated({ ...options(broker.url), protocolVersion: 'auto' }, asyncScheduler, DEFAULT_FAIRNESS)
  const link = await new Promise<Link>((resolve, reject) => {
    const sub = connection.subscribe({ next: resolve, error: reject })
    t.teardown(() => sub.unsubscribe())
  })

  const { received } = await receiveBurst(link, sizes.size)

  t.is(received.length, sizes.size)
  let worstSmall = 0
  for (const m of received) {
    const held = m.payload.buffer.byteLength
    if (m.payload.length < 1024) worstSmall = Math.max(worstSmall, held)
    // a small copy may share one of Node's 8 KB pool slabs; anything else holds at most twice its size
    t.true(held <= 2 * m.payload.length + Buffer.poolSize, `${m.topic}: ${m.payload.length} bytes hold ${held}`)
    t.is(m.payload.toString('latin1', 0, 1), m.topic.startsWith('burst/big/') ? '\x07' : m.topic === 'burst/last' ? 'l' : '{')
  }
  t.log(`the most memory behind one payload under 1 KB: ${worstSmall} bytes`)
})
