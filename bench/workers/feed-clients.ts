/**
 * Worker: live feed clients on the status server's /ws, in a process of their own so that reading and parsing
 * frames never shares an event loop with the bench that measures. `readers` clients read and parse every frame;
 * `stalled` clients complete the WebSocket handshake and then never read again (a frozen tab), so the server's
 * socket buffer for them grows until it drops them. The worker polls /api/status to see when it does.
 *
 * Protocol: `run` (spec) → `ready` once every reader has its hello frame and every stalled client its 101;
 * `stop` → the answer `done` with what every client got.
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { percentile } from '../stats.js'
import { runWorker } from './worker.js'

export interface FeedClientsSpec {
  /** The status server, `http://127.0.0.1:<port>/`. */
  readonly url: string
  readonly readers: number
  readonly stalled: number
  /** Period of the /api/status polls that notice dropped clients, in ms. */
  readonly pollMs: number
}

export interface ReaderReport {
  readonly frames: number
  readonly bytes: number
  readonly byType: Record<string, number>
  /** Message samples in all `messages` frames. */
  readonly samples: number
  /** Largest `messages` frame, in samples. */
  readonly maxSamplesPerFrame: number
  /** Sample age on arrival (client clock − received_at), in ms: coalescing plus the trip. */
  readonly ageMs: { p50: number; p99: number; max: number; count: number }
  /** How the server closed it, when it did (it should not). */
  readonly closed: { code: number; reason: string } | null
  readonly errors: string[]
}

export interface StalledReport {
  /** Bytes read before it stopped reading (the 101 and whatever came with it). */
  readonly bytesBeforeStall: number
  /** Bytes that waited in the kernel's socket buffers (both ends), read when the worker resumed it at `stop`. */
  readonly bytesHeldByKernel: number
  /** The server ended the connection (seen once resumed). */
  readonly closedByServer: boolean
}

export interface FeedClientsResult {
  readonly readers: ReaderReport[]
  readonly stalled: StalledReport[]
  /** dropped_clients in /api/status when the clients were ready, and at stop. */
  readonly droppedBefore: number
  readonly droppedAfter: number
  /** Wall clock (epoch ms) of the first poll that saw dropped_clients rise; null when none did. */
  readonly firstDropSeenAt: number | null
  /** The server's heap and RSS as /api/status reported them: [ms since the clients connected, heap used MB, RSS MB]. */
  readonly memory: Array<[number, number, number]>
  /** feed.clients of the last poll. */
  readonly clientsAtStop: number
  readonly polls: number
  readonly pollErrors: number
  /** CPU of this worker from ready to stop, and wall time since the clients connected, in ms. */
  readonly cpuMs: number
  readonly wallMs: number
}

let stopRequested: (() => void) | undefined
const stopped = new Promise<void>((resolve) => (stopRequested = resolve))
process.on('message', (m: { type?: string }) => {
  if (m.type === 'stop') stopRequested?.()
})

/** Bytes as MB, to an eighth: plenty for a sawtooth of tens of MB. */
const mb = (bytes: number): number => Math.round(bytes / 2 ** 17) / 8

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))


interface Reader {
  readonly report: () => ReaderReport
  readonly close: () => void
}

/** A client that reads everything; resolves once its hello frame arrived. */
function openReader(wsUrl: string): Promise<Reader> {
  const socket = new WebSocket(wsUrl, { perMessageDeflate: false })
  const byType: Record<string, number> = {}
  const ages: number[] = []
  const errors: string[] = []
  let frames = 0
  let bytes = 0
  let samples = 0
  let maxSamplesPerFrame = 0
  let closed: { code: number; reason: string } | null = null
  let closing = false
  return new Promise((resolve, reject) => {
    socket.on('message', (data: Buffer) => {
      const now = Date.now()
      frames++
      bytes += data.length
      const frame = JSON.parse(data.toString('utf8')) as { type: string; samples?: Array<{ received_at: string }> }
      byType[frame.type] = (byType[frame.type] ?? 0) + 1
      if (frame.type === 'messages' && frame.samples !== undefined) {
        samples += frame.samples.length
        maxSamplesPerFrame = Math.max(maxSamplesPerFrame, frame.samples.length)
        for (const s of frame.samples) ages.push(now - Date.parse(s.received_at))
      }
      if (frame.type === 'hello') resolve({ report, close })
    })
    socket.on('error', (e) => {
      errors.push(e.message)
      reject(e)
    })
    socket.on('close', (code, reason) => {
      if (!closing) closed = { code, reason: reason.toString('utf8') }
    })
    const close = (): void => {
      closing = true
      socket.terminate()
    }
    const report = (): ReaderReport => {
      return {
        frames,
        bytes,
        byType,
        samples,
        maxSamplesPerFrame,
        ageMs: { p50: percentile(ages, 50), p99: percentile(ages, 99), max: ages.length === 0 ? Number.NaN : ages.reduce((a, b) => Math.max(a, b)), count: ages.length },
        closed,
        errors,
      }
    }
  })
}

interface Stalled {
  /** Resumes reading to see what the kernel held and whether the server ended the connection. */
  readonly finish: () => Promise<StalledReport>
}

/**
 * A raw socket that sends the upgrade, reads up to the 101 and then pauses: nothing is read any more, so the
 * kernel buffers fill and then the server's. (ws would read on regardless of backpressure.)
 */
async function openStalled(host: string, port: number): Promise<Stalled> {
  const socket: Socket = connect(port, host)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  let bytesBeforeStall = 0
  await new Promise<void>((resolve, reject) => {
    let head = ''
    const onData = (chunk: Buffer): void => {
      bytesBeforeStall += chunk.length
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.pause() // in the same callback: not one more chunk is read
      socket.off('data', onData)
      if (!/^HTTP\/1\.1 101/.test(head)) reject(new Error(`no upgrade: ${head.split('\r\n')[0]}`))
      else resolve()
    }
    socket.on('data', onData)
    socket.once('error', reject)
  })
  socket.on('error', () => undefined) // a reset after the server drops it is expected
  return {
    finish: async () => {
      let held = 0
      let ended = false
      socket.on('data', (chunk: Buffer) => (held += chunk.length))
      const end = new Promise<void>((resolve) => {
        socket.once('end', resolve)
        socket.once('close', resolve)
      }).then(() => (ended = true))
      socket.resume()
      // a dropped client's socket was destroyed by the server: its FIN follows the buffered bytes at once
      await Promise.race([end, sleep(300)])
      socket.destroy()
      return { bytesBeforeStall, bytesHeldByKernel: held, closedByServer: ended }
    },
  }
}

async function run(spec: FeedClientsSpec): Promise<object> {
  const base = new URL(spec.url)
  const wsUrl = `ws://${base.host}/ws`
  const readers = await Promise.all(Array.from({ length: spec.readers }, () => openReader(wsUrl)))
  const stalled = await Promise.all(Array.from({ length: spec.stalled }, () => openStalled(base.hostname, Number(base.port))))

  let polls = 0
  let pollErrors = 0
  let droppedBefore: number | undefined
  let droppedAfter = 0
  let clientsAtStop = 0
  let firstDropSeenAt: number | null = null
  const memory: Array<[number, number, number]> = []
  const wall0 = performance.now()
  const poll = async (): Promise<void> => {
    try {
      const r = await fetch(new URL('api/status', base))
      const s = (await r.json()) as { feed: { clients: number; dropped_clients: number }; memory: { rss_bytes: number; heap_used_bytes: number } }
      polls++
      memory.push([Math.round(performance.now() - wall0), mb(s.memory.heap_used_bytes), mb(s.memory.rss_bytes)])
      droppedBefore ??= s.feed.dropped_clients
      droppedAfter = s.feed.dropped_clients
      clientsAtStop = s.feed.clients
      if (firstDropSeenAt === null && s.feed.dropped_clients > droppedBefore) firstDropSeenAt = Date.now()
    } catch {
      pollErrors++
    }
  }
  await poll()
  let polling = true
  const pollLoop = (async () => {
    while (polling) {
      await Promise.race([sleep(spec.pollMs), stopped])
      if (polling) await poll()
    }
  })()

  const cpu0 = process.cpuUsage()
  process.send?.({ type: 'ready' })
  await stopped
  polling = false
  await pollLoop
  await poll()
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - wall0
  const readerReports = readers.map((r) => r.report())
  for (const r of readers) r.close()
  const stalledReports = await Promise.all(stalled.map((s) => s.finish()))
  const result: FeedClientsResult = {
    readers: readerReports,
    stalled: stalledReports,
    droppedBefore: droppedBefore ?? 0,
    droppedAfter,
    firstDropSeenAt,
    memory,
    clientsAtStop,
    polls,
    pollErrors,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
  }
  return { type: 'done', result }
}

runWorker<{ type: 'run'; spec: FeedClientsSpec }>((m) => run(m.spec))
