#!/usr/bin/env node
/**
 * CLI entry: reads config, starts the optional demo broker, serves MCP over stdio and the status page over
 * HTTP. The only impure wiring. stdout belongs to the MCP protocol; everything else goes to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import * as E from 'fp-ts/lib/Either.js'
import { createApp } from './app.js'
import { loadConfig } from './config.js'
import { explainConfigError, mergeEnv, readDotenv } from './dotenv.js'
import { createLogger } from './log.js'
import { VERSION } from './version.js'

async function main(): Promise<number | undefined> {
  // flags > environment > .env (./.env or --env-file) > defaults
  const dotenv = readDotenv(process.argv.slice(2), process.cwd())
  if (E.isLeft(dotenv)) {
    console.error(`bitsperity-mqtt-mcp: ${dotenv.left}`)
    return 2
  }
  const loaded = loadConfig(process.argv.slice(2), mergeEnv(dotenv.right, process.env))
  if (E.isLeft(loaded)) {
    console.error(`bitsperity-mqtt-mcp: ${explainConfigError(loaded.left, dotenv.right, process.env)}`)
    return 2
  }
  if ('help' in loaded.right) {
    console.error(loaded.right.help)
    return 0
  }
  if ('version' in loaded.right) {
    console.error(VERSION)
    return 0
  }
  const config = loaded.right
  const logger = createLogger(config.logLevel, { pid: process.pid })
  if (dotenv.right.file !== undefined) logger.debug('settings read from .env file', { file: dotenv.right.file, keys: Object.keys(dotenv.right.values) })

  let demo: { url: string; close(): Promise<void> } | undefined
  if (config.demo) {
    const { startDemo } = await import('./demo/index.js')
    demo = await startDemo({ logger: logger.child({ component: 'demo' }) })
  }

  const app = createApp({ config, logger, ...(demo !== undefined ? { defaultUrl: demo.url } : {}) })
  // the demo is for watching: open its session now so the status page shows the fleet before any tool call
  // (a configured MQTT_URL stays lazy, as the contract says: opened on first use)
  if (demo !== undefined) void app.registry.resolve(undefined)
  const stdio = config.transport !== 'http'
  const server = app.mcpServer()
  const transport = new StdioServerTransport()
  let http: Promise<{ close(): Promise<void> } | undefined> = Promise.resolve(undefined)
  // loaded only for the HTTP transport: the SDK's Streamable HTTP stack (Hono, and undici through its globals)
  // would otherwise be read and run by every stdio start
  const mcpHttp =
    config.transport === 'stdio'
      ? undefined
      : (await import('./mcp/http-transport.js')).createMcpHttpHandler({
          newServer: (owner) => app.mcpServer(owner),
          onSessionClosed: (owner) => void app.registry.closeOwnedBy(owner),
          idleMs: config.sessionTtlSeconds * 1000,
        })

  let stopping = false
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return
    stopping = true
    logger.info('shutting down', { reason: why })
    // whatever happens below, the process ends within 2 s (timers run late on a loaded machine: aim lower)
    setTimeout(() => process.exit(0), 1500).unref()
    // sessions first (DISCONNECT to their brokers), everything else alongside
    await Promise.allSettled([app.close(), (async () => (await http)?.close())(), server.close()])
    await demo?.close().catch(() => undefined)
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  if (stdio) {
    transport.onclose = () => void shutdown('stdio closed')
    process.stdin.on('end', () => void shutdown('stdin closed'))
    process.stdin.on('close', () => void shutdown('stdin closed'))
    await server.connect(transport)
  }
  logger.info(`bitsperity-mqtt-mcp ready on ${config.transport === 'both' ? 'stdio and HTTP' : config.transport}`, {
    version: VERSION,
    default_broker: demo?.url ?? (config.mqttUrl !== undefined ? 'configured' : 'none'),
  })
  // after MCP is up, so the status page never delays the handshake; a failure here leaves MCP running
  if (config.http && !stopping) {
    http = import('./http/server.js')
      .then(({ startHttp }) =>
        startHttp({
          app,
          logger,
          version: VERSION,
          host: config.httpHost,
          port: config.httpPort,
          token: config.httpToken,
          allowedHosts: config.httpAllowedHosts,
          ...(mcpHttp !== undefined ? { mcp: mcpHttp } : {}),
        }),
      )
      .catch((e: unknown) => {
        logger.error('status page not started', { error: e })
        return undefined
      })
  }
  return undefined
}

main().then(
  (code) => {
    if (code !== undefined) process.exit(code)
  },
  (e: unknown) => {
    console.error(`bitsperity-mqtt-mcp: failed to start: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  },
)
