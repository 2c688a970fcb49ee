#!/usr/bin/env node
/**
 * CLI entry: reads config, starts the optional demo broker, serves MCP over stdio. The only impure wiring.
 * stdout belongs to the MCP protocol; everything else goes to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import * as E from 'fp-ts/lib/Either.js'
import { createApp } from './app.js'
import { loadConfig } from './config.js'
import { createLogger } from './log.js'
import { VERSION } from './version.js'

async function main(): Promise<number | undefined> {
  const loaded = loadConfig(process.argv.slice(2), process.env)
  if (E.isLeft(loaded)) {
    console.error(`bitsperity-mqtt-mcp: ${loaded.left}`)
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

  let demo: { url: string; close(): Promise<void> } | undefined
  if (config.demo) {
    const { startDemo } = await import('./demo/index.js')
    demo = await startDemo({ logger: logger.child({ component: 'demo' }) })
    logger.info('demo broker running', { url: demo.url })
  }

  const app = createApp({ config, logger, ...(demo !== undefined ? { defaultUrl: demo.url } : {}) })
  const server = app.mcpServer()
  const transport = new StdioServerTransport()

  let stopping = false
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return
    stopping = true
    logger.info('shutting down', { reason: why })
    // whatever happens below, the process ends within 2 s
    setTimeout(() => process.exit(0), 1800).unref()
    await app.close().catch(() => undefined)
    await demo?.close().catch(() => undefined)
    await server.close().catch(() => undefined)
    process.exit(0)
  }
  transport.onclose = () => void shutdown('stdio closed')
  process.stdin.on('end', () => void shutdown('stdin closed'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))

  await server.connect(transport)
  logger.info('bitsperity-mqtt-mcp ready on stdio', { version: VERSION, default_broker: demo?.url ?? (config.mqttUrl !== undefined ? 'configured' : 'none') })
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
