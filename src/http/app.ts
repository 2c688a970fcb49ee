/**
 * The HTTP server's app: the status API, the /ws live feed, the page, /metrics and the API docs at /docs, one
 * plugin per route group, behind the Host/Origin/token guard. `buildApp` does not listen (tests inject;
 * server.ts listens).
 */
import swagger from '@fastify/swagger'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { asyncScheduler, type SchedulerLike } from 'rxjs'
import type { App } from '../app.js'
import type { Logger } from '../log.js'
import { docsRoutes, openApiOptions } from './docs.js'
import { defaultFeedLimits, type FeedLimits } from './feed-client.js'
import { createFeedHub } from './feed-hub.js'
import { feedRoutes } from './feed.js'
import { installGuard, isLoopbackHost } from './guard.js'
import type { McpHttpHandler } from '../mcp/http-transport.js'
import { mcpRoutes } from './mcp.js'
import { metricsRoutes } from './metrics.js'
import { pageRoutes } from './page.js'
import { createRateMeter } from './rates.js'
import { statusRoutes } from './status.js'

export interface HttpDeps {
  readonly app: App
  readonly logger: Logger
  readonly version: string
  /** The address the server listens on; beyond loopback a token is required. */
  readonly host: string
  /** The port it listens on (0: any free one; the Host check then uses the real one). */
  readonly port: number
  /** Bearer token; required on every route but the static assets when set. */
  readonly token?: string | undefined
  /** Extra Host names accepted (reverse proxies): `name` or `name:port`. */
  readonly allowedHosts: readonly string[]
  readonly scheduler?: SchedulerLike
  /** Live feed bounds (tests shrink them). */
  readonly feed?: Partial<FeedLimits>
  /** The page's folder (default: src/http/page of the package). */
  readonly pageDir?: string
  /** Streamable HTTP MCP at /mcp (when the transport is http or both). */
  readonly mcp?: McpHttpHandler
}

/** Thrown by buildApp for a setting it refuses (beyond loopback without a token). */
export class HttpConfigError extends Error {
  override readonly name = 'HttpConfigError'
}

/** Sent with every response: no framing, no sniffing, no referrer (the page URL may carry ?token=), no caching. */
export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
} as const

/** Builds the Fastify app without listening; throws HttpConfigError when asked to listen beyond loopback without a token. */
export function buildApp(deps: HttpDeps): FastifyInstance {
  const token = deps.token === '' ? undefined : deps.token
  if (!isLoopbackHost(deps.host) && token === undefined) {
    throw new HttpConfigError(
      `listening on ${deps.host} reaches beyond this machine and needs a token: set MQTT_MCP_HTTP_TOKEN (or --http-token), or keep MQTT_MCP_HTTP_HOST on 127.0.0.1`,
    )
  }
  const scheduler = deps.scheduler ?? asyncScheduler
  const log = deps.logger.child({ component: 'http' })
  // Fastify's own logger stays off: stdout belongs to MCP, and our errors go through the handlers below
  // validateSchema off: our route schemas are fixed and tested, and checking them against the JSON Schema
  // meta-schema at start compiled ajv's meta-schema (~50 ms of CPU, ~3 MB of the idle server's memory)
  const http = Fastify({ logger: false, forceCloseConnections: true, return503OnClosing: true, bodyLimit: 16 * 1024, ajv: { customOptions: { validateSchema: false } } })

  const meter = createRateMeter(deps.app.registry, scheduler)
  const hub = createFeedHub({ registry: deps.app.registry, toolCalls: deps.app.toolCalls, meter, version: deps.version, logger: log })
  http.addHook('onClose', async () => meter.stop())

  installGuard(http, {
    host: deps.host,
    port: () => {
      const address = http.server.address()
      return address !== null && typeof address === 'object' ? address.port : deps.port
    },
    token,
    allowedHosts: deps.allowedHosts.map((h) => h.toLowerCase()),
  })
  http.addHook('onSend', async (_req, reply, payload) => {
    void reply.headers(SECURITY_HEADERS)
    return payload
  })
  http.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'No such route.' } }))
  http.setErrorHandler((error: FastifyError, req, reply) => {
    if (error.validation !== undefined) return reply.code(400).send({ error: { code: 'INVALID_INPUT', message: error.message } })
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    // the path only: a query may carry the token
    if (status === 500) log.error('HTTP request failed', { path: req.url.split('?')[0], error })
    return reply.code(status).send({ error: { code: status === 500 ? 'INTERNAL_ERROR' : (error.code ?? 'BAD_REQUEST'), message: status === 500 ? 'Internal error.' : error.message } })
  })

  void http.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    errorHandler: (error, socket) => {
      log.debug('live feed socket error', { error: error.message })
      socket.terminate()
    },
    // the default waits for each client's close handshake, which a stalled client never completes
    preClose: async function (this: FastifyInstance) {
      for (const client of this.websocketServer.clients) {
        client.close(1001, 'server shutting down')
        client.terminate()
      }
    },
  })
  // before the route groups: it collects each route as it is added
  void http.register(swagger, openApiOptions(deps.version))
  void http.register(statusRoutes, { app: deps.app, version: deps.version, meter, feedCounts: hub.counts, scheduler })
  void http.register(feedRoutes, { hub, scheduler, limits: { ...defaultFeedLimits, ...deps.feed } })
  void http.register(pageRoutes, { logger: log, dir: deps.pageDir })
  if (deps.mcp !== undefined) void http.register(mcpRoutes, { handler: deps.mcp })
  void http.register(metricsRoutes, { app: deps.app, meter, feedCounts: hub.counts })
  void http.register(docsRoutes)
  return http
}
