/**
 * Who may talk to the HTTP server: the Host header must name this server (DNS rebinding), an Origin must be
 * one of ours (cross-site pages), and a bearer token is checked whenever one is set. Runs as an onRequest
 * hook, so it guards the WebSocket upgrade too. No CORS headers are ever sent: the browser's same-origin
 * policy stays in force.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply } from 'fastify'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a route needs besides Host and Origin when a token is set: `api` the Authorization header; `page` the
 * header or `?token=` (a browser cannot set headers on a navigation or a WebSocket); `public` nothing (static
 * assets that hold no data: `<script src>` cannot carry a token).
 */
export type Access = 'api' | 'page' | 'public'

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
  }
}

export interface GuardOptions {
  /** The address the server listens on (127.0.0.1, ::1, localhost, 0.0.0.0, a name …). */
  readonly host: string
  /** The port it listens on (the real one once listening on port 0). */
  readonly port: () => number
  readonly token?: string | undefined
  /** Extra accepted Host names (reverse proxies), `name` (any port) or `name:port`, lower case. */
  readonly allowedHosts: readonly string[]
}

interface Authority {
  readonly name: string
  readonly port: number | undefined
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]']
const WILDCARDS = new Set(['0.0.0.0', '[::]', '[0:0:0:0:0:0:0:0]'])

// -------------------------------------------------------------------------------------
// pure rules
// -------------------------------------------------------------------------------------

/** `::1` → `[::1]`: the form an IPv6 address takes in a Host header. */
const bracketed = (host: string): string => {
  const h = host.toLowerCase()
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = bracketed(host)
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/** Parses `name[:port]` (name may be a bracketed IPv6 address); undefined when malformed. */
export function parseAuthority(text: string): Authority | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]/@\s]+)(?::(\d{1,5}))?$/i.exec(text)
  if (m === null) return undefined
  const port = m[2] === undefined ? undefined : Number(m[2])
  if (port !== undefined && port > 65535) return undefined
  return { name: m[1]!.toLowerCase(), port }
}

/** Whether `name:port` (port already defaulted) is this server: a loopback name or our host on our port, or an allowed host. */
function authorityAllowed(a: { name: string; port: number }, o: GuardOptions): boolean {
  const own = bracketed(o.host)
  if ((LOOPBACK_NAMES.includes(a.name) || (a.name === own && !WILDCARDS.has(own))) && a.port === o.port()) return true
  return o.allowedHosts.some((entry) => {
    const e = parseAuthority(entry)
    return e !== undefined && e.name === a.name && (e.port === undefined || e.port === a.port)
  })
}

/** Whether a Host header names this server (a Host without a port means port 80). */
export function hostAllowed(hostHeader: string | undefined, o: GuardOptions): boolean {
  if (hostHeader === undefined) return false
  const a = parseAuthority(hostHeader)
  return a !== undefined && authorityAllowed({ name: a.name, port: a.port ?? 80 }, o)
}

/** Whether an Origin header is one of this server's own origins (http or https, behind a proxy). `null` never is. */
export function originAllowed(origin: string, o: GuardOptions): boolean {
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  if (url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '')) return false
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  return authorityAllowed({ name: url.hostname.toLowerCase(), port }, o)
}

/** The token of `Authorization: Bearer <token>`, if that is what the header holds. */
export function bearerOf(authorization: string | undefined): string | undefined {
  const m = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
  return m?.[1]
}

/** Compares in constant time (hashes first, so the lengths always match and leak nothing). */
export function tokenMatches(given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()
  return timingSafeEqual(digest(given), digest(expected))
}

// -------------------------------------------------------------------------------------
// hook
// -------------------------------------------------------------------------------------

const deny = (reply: FastifyReply, status: number, code: string, message: string): FastifyReply =>
  reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } })

/** Adds the guard to every route of `app` registered after it, the WebSocket upgrade included. */
export function installGuard(app: FastifyInstance, o: GuardOptions): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, o)) {
      return deny(reply, 403, 'FORBIDDEN_HOST', 'The Host header does not name this server. Behind a proxy, add its name to MQTT_MCP_HTTP_ALLOWED_HOSTS.')
    }
    const origin = req.headers.origin
    if (origin !== undefined && !originAllowed(origin, o)) {
      return deny(reply, 403, 'FORBIDDEN_ORIGIN', 'Requests from other origins are not allowed.')
    }
    if (o.token === undefined) return undefined
    const access = req.routeOptions.config?.access ?? 'api'
    if (access === 'public') return undefined
    const query = req.query as Record<string, unknown> | undefined
    const fromQuery = access === 'page' && typeof query?.['token'] === 'string' ? query['token'] : undefined
    const given = bearerOf(req.headers.authorization) ?? fromQuery
    if (given === undefined || !tokenMatches(given, o.token)) {
      void reply.header('www-authenticate', 'Bearer')
      return deny(reply, 401, 'UNAUTHORIZED', 'This server needs its token: Authorization: Bearer <MQTT_MCP_HTTP_TOKEN> (or ?token= on the page and /ws).')
    }
    return undefined
  })
}
