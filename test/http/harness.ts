/**
 * The HTTP app against a real app and broker: the app from createApp (in-process MCP client), aedes, and
 * buildApp on top, driven through inject / injectWS (or a real listen when a test needs sockets).
 */
import type { ExecutionContext } from 'ava'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import mqtt, { type MqttClient } from 'mqtt'
import { buildApp, type HttpDeps } from '../../src/http/app.js'
import { silentLogger } from '../../src/log.js'
import { VERSION } from '../../src/version.js'
import { startAedes, type TestBroker } from '../helpers/brokers.js'
import { ok, startInProcess, type InProcessServer } from '../helpers/mcp.js'

/** The port buildApp is told about in inject tests (nothing listens on it). */
export const PORT = 8091
export const HOST_HEADER = `127.0.0.1:${PORT}`

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface Harness {
  readonly mcp: InProcessServer
  readonly broker: TestBroker
  readonly http: FastifyInstance
  /** inject with Host 127.0.0.1:8091 unless the options say otherwise. */
  readonly inject: (opts: InjectOptions | string) => Promise<LightMyRequestResponse>
  /** GET `url` and parse its JSON body. */
  readonly json: <T = Record<string, unknown>>(url: string, headers?: Record<string, string>) => Promise<T>
  /** Opens a session on the broker through the MCP tool; returns its id. */
  readonly openSession: (args?: Record<string, unknown>) => Promise<string>
  /** An mqtt.js client on the broker (closed at teardown). */
  readonly publisher: () => Promise<MqttClient>
}

/** buildApp's settings, plus the environment the app's config is read from. */
export type HarnessOptions = Partial<Omit<HttpDeps, 'app' | 'logger' | 'version'>> & { readonly env?: Record<string, string> }

/** Starts broker, app and HTTP app for one test; everything is closed at teardown. */
export async function harness(t: ExecutionContext, options: HarnessOptions = {}): Promise<Harness> {
  const { env, ...opts } = options
  const broker = await startAedes()
  const mcp = await startInProcess(env)
  const http = buildApp({ app: mcp.app, logger: silentLogger, version: VERSION, host: '127.0.0.1', port: PORT, allowedHosts: [], ...opts })
  const clients: MqttClient[] = []
  t.teardown(async () => {
    await http.close()
    for (const c of clients) await c.endAsync(true).catch(() => undefined)
    await mcp.close()
    await broker.close()
  })
  await http.ready()
  const inject = (o: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const options: InjectOptions = typeof o === 'string' ? { url: o } : o
    return http.inject({ ...options, headers: { host: HOST_HEADER, ...options.headers } })
  }
  return {
    mcp,
    broker,
    http,
    inject,
    json: async <T>(url: string, headers: Record<string, string> = {}) => {
      const r = await inject({ url, headers })
      if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body}`)
      return r.json<T>()
    },
    openSession: async (args = {}) => {
      const r = await ok<{ session_id: string }>(mcp.client, 'mqtt_establish_connection', { connection_string: broker.url, ...args })
      return r.session_id
    },
    publisher: async () => {
      const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `pub-${Math.random().toString(16).slice(2, 10)}` })
      clients.push(c)
      return c
    },
  }
}

/** Polls `probe` until it returns something, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

/** A frame as the feed sends it. */
export type Frame = { type: string } & Record<string, unknown>

/** The socket injectWS returns, as far as these tests use it. */
export interface TestSocket {
  on(event: 'message', l: (data: Buffer) => void): unknown
  on(event: 'close', l: (code: number, reason: Buffer) => void): unknown
  send(data: string): void
  terminate(): void
}

/** Every frame a feed socket received, with a waiter. */
export interface FrameLog {
  readonly frames: Frame[]
  /** The first frame (from index `from`) that `match` accepts. */
  readonly next: (match: (f: Frame) => boolean, timeoutMs?: number, from?: number) => Promise<Frame>
  readonly closed: () => { code: number; reason: string } | undefined
}

/** Records a socket's frames (attach right after connecting: the hello frame comes at once). */
export function recordFrames(socket: TestSocket): FrameLog {
  const frames: Frame[] = []
  let closed: { code: number; reason: string } | undefined
  socket.on('message', (data) => frames.push(JSON.parse(data.toString('utf8')) as Frame))
  socket.on('close', (code, reason) => (closed = { code, reason: reason.toString('utf8') }))
  return {
    frames,
    next: (match, timeoutMs = 10_000, from = 0) => eventually(`a matching frame (got ${frames.map((f) => f.type).join(', ')})`, () => frames.slice(from).find(match), timeoutMs),
    closed: () => closed,
  }
}

/** Opens /ws through injectWS with Host 127.0.0.1:8091 and records its frames from the very first. */
export async function openFeed(h: Harness, path = '/ws', headers: Record<string, string> = {}): Promise<{ socket: TestSocket; log: FrameLog }> {
  let log: FrameLog | undefined
  const socket = (await h.http.injectWS(path, { headers: { host: HOST_HEADER, ...headers } }, {
    onInit: (ws) => {
      log = recordFrames(ws as unknown as TestSocket)
    },
  })) as unknown as TestSocket
  return { socket, log: log! }
}
