/** MCP clients for tests: the SDK Client over real stdio (spawning the built server) or an in-memory pair. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { asyncScheduler } from 'rxjs'
import { createApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { createLogger, type Logger } from '../../src/log.js'
import { createMcpServer } from '../../src/mcp/server.js'
import type { Tool } from '../../src/tools/tool.js'
import { VERSION } from '../../src/version.js'

/** Path of the compiled server entry beside this compiled helper (.build/src/main.js). */
export const mainPath = fileURLToPath(new URL('../../src/main.js', import.meta.url))

export interface StdioServer {
  readonly client: Client
  /** Everything the server wrote to stderr so far. */
  stderr(): string
  readonly pid: number | undefined
  close(): Promise<void>
}

/** Spawns `node .build/src/main.js args` with `env` and connects an SDK Client over its stdio. */
export async function startStdioServer(args: string[] = [], env: Record<string, string> = {}): Promise<StdioServer> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [mainPath, ...args],
    // no status server unless a test asks for one (--http-port): it costs start-up CPU and would race for port 8091
    env: { PATH: process.env['PATH'] ?? '', MQTT_MCP_LOG_LEVEL: 'debug', ...(args.includes('--http-port') ? {} : { MQTT_MCP_HTTP: 'false' }), ...env },
    stderr: 'pipe',
    // a developer's .env in the repository must not reach the server under test
    cwd: tmpdir(),
  })
  let stderr = ''
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  const client = new Client({ name: 'test-client', version: '1.0.0' })
  await client.connect(transport)
  return { client, stderr: () => stderr, pid: transport.pid ?? undefined, close: () => client.close() }
}

export interface InProcessServer {
  readonly client: Client
  readonly app: ReturnType<typeof createApp>
  /** Every log line written so far. */
  logs(): string
  close(): Promise<void>
}

export interface InProcessOptions {
  /** Serve these tools instead of the registered ones (e.g. a tool not yet in src/tools/index.ts); same registry. */
  readonly tools?: readonly Tool[]
}

/** Builds the app in this process with config from `env` and connects an SDK Client through an in-memory pair. */
export async function startInProcess(env: Record<string, string> = {}, opts: InProcessOptions = {}): Promise<InProcessServer> {
  const loaded = loadConfig([], env)
  if (loaded._tag === 'Left') throw new Error(loaded.left)
  const config = loaded.right as Config
  const lines: string[] = []
  const logger: Logger = createLogger('debug', {}, (line) => lines.push(line))
  const app = createApp({ config, logger })
  const server =
    opts.tools === undefined
      ? app.mcpServer()
      : createMcpServer({ name: 'bitsperity-mqtt-mcp', version: VERSION, tools: opts.tools, context: { registry: app.registry, config, logger, scheduler: asyncScheduler } })
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const client = new Client({ name: 'test-client', version: '1.0.0' })
  await client.connect(clientSide)
  return {
    client,
    app,
    logs: () => lines.join('\n'),
    close: async () => {
      await client.close()
      await app.close()
    },
  }
}

/** Calls a tool and returns its result (the SDK validates structuredContent against outputSchema). */
export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult
}

/** The structured result of a successful call; fails the test with the error text otherwise. */
export async function ok<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const r = await call(client, name, args)
  if (r.isError === true) throw new Error(`${name} failed: ${textOf(r)}`)
  return r.structuredContent as T
}

/** The error body of a failed call; fails the test when the call succeeded. */
export async function fails(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ code: string; message: string; hint: string; retryable: boolean; category: string; fields?: Array<{ field: string; expected: string }> }> {
  const r = await call(client, name, args)
  if (r.isError !== true) throw new Error(`${name} succeeded but should have failed: ${textOf(r)}`)
  if (r.structuredContent !== undefined) throw new Error('an error result must not carry structuredContent')
  return (JSON.parse(textOf(r)) as { error: never }).error
}

/** The text of the first content block. */
export function textOf(r: CallToolResult): string {
  const first = r.content[0]
  return first !== undefined && first.type === 'text' ? first.text : ''
}
