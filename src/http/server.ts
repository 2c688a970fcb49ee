/**
 * Starts the HTTP server beside the MCP server. Whatever goes wrong here (a taken port, a refused setting)
 * is logged on stderr and the MCP server carries on without a status page.
 */
import type { FastifyInstance } from 'fastify'
import { buildApp, type HttpDeps } from './app.js'

export interface HttpServer {
  /** Where the page is, e.g. http://127.0.0.1:8091/ (without the token). */
  readonly url: string
  readonly close: () => Promise<void>
}

const hostInUrl = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

/** Builds and listens; undefined (after logging why) when the server could not start. */
export async function startHttp(deps: HttpDeps): Promise<HttpServer | undefined> {
  const log = deps.logger.child({ component: 'http' })
  let http: FastifyInstance
  try {
    http = buildApp(deps)
  } catch (e) {
    log.error(`status page not started: ${(e as Error).message}`)
    return undefined
  }
  try {
    await http.listen({ host: deps.host, port: deps.port })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') {
      log.warn(`status page not started: port ${deps.port} on ${deps.host} is already in use; MCP carries on without it (set MQTT_MCP_HTTP_PORT, or --no-http)`, { host: deps.host, port: deps.port, code })
    } else {
      log.error(`status page not started: ${(e as Error).message}`, { host: deps.host, port: deps.port, code })
    }
    await http.close().catch(() => undefined)
    return undefined
  }
  const address = http.server.address()
  const port = address !== null && typeof address === 'object' ? address.port : deps.port
  const url = `http://${hostInUrl(deps.host)}:${port}/`
  log.info(`status page on ${url}${deps.token !== undefined ? ' (add ?token=<MQTT_MCP_HTTP_TOKEN>)' : ''}`, { url })
  return { url, close: () => http.close() }
}
