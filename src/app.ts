/**
 * Builds the server's parts from a Config (registry, MCP server, optional demo) without touching
 * process-wide state, so tests can run it in-process and main.ts stays the only impure wiring.
 */
import * as E from 'fp-ts/lib/Either.js'
import { asyncScheduler, type SchedulerLike } from 'rxjs'
import { createToolCallLog } from './activity.js'
import type { Config } from './config.js'
import type { Logger } from './log.js'
import { createMcpServer, type ToolCallEvent } from './mcp/server.js'
import { parseConnectionString } from './mqtt/url.js'
import { SessionRegistry } from './sessions/registry.js'
import { createSealer } from './sessions/secrets.js'
import type { SessionSpec } from './sessions/session.js'
import { connectLazily } from './streams/sources/lazy-connection.js'
import { defaultClientId } from './tools/connect-options.js'
import { tools } from './tools/index.js'
import { VERSION } from './version.js'

export interface AppDeps {
  readonly config: Config
  readonly logger: Logger
  readonly scheduler?: SchedulerLike
  /** Overrides config.mqttUrl (the demo broker's URL). */
  readonly defaultUrl?: string
  readonly onToolCall?: (e: ToolCallEvent) => void
}

/** The session spec of the default broker, or undefined when none is configured. */
export function defaultSessionSpec(config: Config, url: string | undefined): (() => SessionSpec) | undefined {
  if (url === undefined) return undefined
  const parsed = parseConnectionString(url)
  if (E.isLeft(parsed)) return undefined
  const u = parsed.right
  return () => {
    const username = config.mqttUsername ?? u.username
    const password = config.mqttPassword ?? u.password
    return {
      name: 'default',
      url: u,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      clientId: u.clientId ?? defaultClientId(),
      protocolVersion: 'auto',
      keepaliveSeconds: 60,
      clean: true,
      connectTimeoutMs: 30_000,
    }
  }
}

/** The server's parts: the session registry, a factory of MCP servers sharing it, and the tool call log. */
export type App = ReturnType<typeof createApp>

/** Creates the registry and a factory of MCP servers sharing it (one server per client connection). */
export function createApp(deps: AppDeps) {
  const scheduler = deps.scheduler ?? asyncScheduler
  const spec = defaultSessionSpec(deps.config, deps.defaultUrl ?? deps.config.mqttUrl)
  const registry = new SessionRegistry({
    maxSessions: deps.config.maxSessions,
    ttlMs: deps.config.sessionTtlSeconds * 1000,
    ...(spec !== undefined ? { defaultSpec: spec } : {}),
    deps: { connect: (o) => connectLazily(o, scheduler), sealer: createSealer(), scheduler, logger: deps.logger },
  })
  const toolCalls = createToolCallLog()
  /** An MCP server for one client; `owner` scopes the sessions it sees (stdio, or an HTTP MCP session id). */
  const mcpServer = (owner = 'stdio') =>
    createMcpServer({
      name: 'bitsperity-mqtt-mcp',
      version: VERSION,
      tools,
      context: { registry: registry.view(owner), config: deps.config, logger: deps.logger, scheduler },
      onToolCall: (e) => {
        toolCalls.record(e)
        deps.onToolCall?.(e)
      },
    })
  return { registry, mcpServer, toolCalls, config: deps.config, startedAt: scheduler.now(), close: () => registry.closeAll() }
}
