/**
 * The MCP server factory: tools served from io-ts codecs through our own tools/list and tools/call
 * handlers on the SDK's low-level server (McpServer.registerTool takes zod only).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type JSONRPCMessage,
  type ListToolsResult,
} from '@modelcontextprotocol/sdk/types.js'
import * as E from 'fp-ts/lib/Either.js'
import { Writable } from 'node:stream'
import { cancelled, codeOf, toToolResult } from '../errors.js'
import type { Tool, ToolContext } from '../tools/tool.js'
import { registerPrompts } from './prompts.js'
import { registerResources } from './resources.js'

/** Events for the status page: a tool call started or finished (arguments already redacted by the caller). */
export type ToolCallEvent =
  | { readonly type: 'started'; readonly id: number; readonly tool: string; readonly args: unknown; readonly at: number }
  | { readonly type: 'finished'; readonly id: number; readonly tool: string; readonly ok: boolean; readonly code?: string; readonly ms: number; readonly at: number }

export interface McpServerDeps {
  readonly name: string
  readonly version: string
  readonly tools: readonly Tool[]
  /** The per-call context minus what comes with each request. */
  readonly context: Omit<ToolContext, 'signal' | 'progress'>
  readonly onToolCall?: (e: ToolCallEvent) => void
}

const INSTRUCTIONS = `Work with MQTT brokers. Start with mqtt_establish_connection (or leave session_id out when a default broker is configured),
then mqtt_list_topics to see what exists and mqtt_subscribe_and_collect to sample traffic. Results are pruned to fit your context.`

/** Creates an MCP server (not yet connected to a transport) serving `tools`. */
export function createMcpServer(deps: McpServerDeps): Server {
  const listed = toolList(deps.tools)
  const server = new ToolServer(
    listed,
    { name: deps.name, version: deps.version },
    { capabilities: { tools: {}, resources: { subscribe: true, listChanged: true }, prompts: {} }, instructions: INSTRUCTIONS },
  )
  const releaseResources = registerResources(server, {
    registry: deps.context.registry,
    budgetChars: deps.context.config.outputBudgetChars,
    scheduler: deps.context.scheduler,
  })
  registerPrompts(server)
  // a client that goes away releases the broker subscriptions of its resource subscriptions
  server.onclose = releaseResources
  const byName = new Map(deps.tools.map((t) => [t.name, t]))
  let nextCall = 1

  server.setRequestHandler(ListToolsRequestSchema, () => listed.result)

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const tool = byName.get(request.params.name)
    if (tool === undefined) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}. Call tools/list for the tools this server has.`)
    }
    const token = request.params._meta?.progressToken
    const progress: ToolContext['progress'] =
      token === undefined
        ? () => undefined
        : (value, total, message) => {
            void extra
              .sendNotification({
                method: 'notifications/progress',
                params: { progressToken: token, progress: value, ...(total !== undefined ? { total } : {}), ...(message !== undefined ? { message } : {}) },
              })
              .catch(() => undefined)
          }
    const id = nextCall++
    const started = deps.context.scheduler.now()
    deps.onToolCall?.({ type: 'started', id, tool: tool.name, args: request.params.arguments ?? {}, at: started })
    const result = await tool.call(request.params.arguments ?? {}, { ...deps.context, signal: extra.signal, progress })
    const finished = { id, tool: tool.name, ms: deps.context.scheduler.now() - started, at: deps.context.scheduler.now() }
    if (E.isLeft(result)) {
      const error = extra.signal.aborted && result.left._tag !== 'Cancelled' ? cancelled({ message: 'The call was cancelled.' }) : result.left
      deps.context.logger.info('tool call failed', { tool: tool.name, code: codeOf(error), ms: finished.ms })
      deps.onToolCall?.({ type: 'finished', ...finished, ok: false, code: codeOf(error) })
      return toToolResult(error)
    }
    deps.onToolCall?.({ type: 'finished', ...finished, ok: true })
    deps.context.logger.debug('tool call', { tool: tool.name, ms: finished.ms })
    const structured = result.right as Record<string, unknown>
    const reply: CallToolResult = { structuredContent: structured, content: [{ type: 'text', text: JSON.stringify(structured) }] }
    if (extra.signal.aborted) {
      // The SDK drops replies to cancelled requests (the spec's SHOULD); our contract returns what a cancelled
      // window gathered (stopped_by: "cancelled"), so send it ourselves. Clients that gave up ignore it.
      await server.transport?.send({ jsonrpc: '2.0', id: extra.requestId, result: reply }, { relatedRequestId: extra.requestId }).catch(() => undefined)
    }
    return reply
  })

  return server
}

// -------------------------------------------------------------------------------------
// tools/list
// -------------------------------------------------------------------------------------

/** The tools/list answer of one tool set, built once: the object and its JSON bytes. */
export interface ToolList {
  /** Deeply frozen: every server and every transport sends this same answer. */
  readonly result: ListToolsResult
  /** `JSON.stringify(result)` as UTF-8, spliced into stdio replies instead of serialising ~55 KB per call. */
  readonly json: Buffer
}

// the tool set is fixed after start, and every HTTP session builds a server of its own from the same array
const toolLists = new WeakMap<readonly Tool[], ToolList>()

/** The tools/list answer for `tools`, computed on first use and shared by every server built from the same array. */
export function toolList(tools: readonly Tool[]): ToolList {
  const known = toolLists.get(tools)
  if (known !== undefined) return known
  const result: ListToolsResult = {
    tools: tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: t.inputSchema as { type: 'object' },
      outputSchema: t.outputSchema as { type: 'object' },
      annotations: t.annotations,
    })),
  }
  // a copy, frozen: the stdio bytes and the object other transports serialise must never drift apart, and the
  // tools' own schema objects stay theirs to build on
  const json = JSON.stringify(result)
  const list: ToolList = { result: deepFreeze(JSON.parse(json) as ListToolsResult), json: Buffer.from(json, 'utf8') }
  toolLists.set(tools, list)
  return list
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/**
 * The SDK's low-level server, except that on stdio the cached tools/list answer goes out as pre-serialised bytes.
 * The SDK's StdioServerTransport would run JSON.stringify over all ~55 KB of schemas for every call (0.3–0.5 ms of
 * a ~2 ms round trip here); other transports serialise as usual.
 */
class ToolServer extends Server {
  constructor(
    private readonly listed: ToolList,
    ...args: ConstructorParameters<typeof Server>
  ) {
    super(...args)
  }

  override async connect(transport: Transport): Promise<void> {
    if (transport instanceof StdioServerTransport) sendListRaw(transport, this.listed)
    return super.connect(transport)
  }
}

/** Replaces `transport.send` for replies that carry `listed.result`; every other message goes through the SDK. */
function sendListRaw(transport: StdioServerTransport, listed: ToolList): void {
  // the SDK keeps its output stream in a private field; if that ever changes, replies take the SDK's own path
  const out = (transport as unknown as { _stdout?: unknown })._stdout
  if (!(out instanceof Writable)) return
  const send = transport.send.bind(transport)
  transport.send = (message: JSONRPCMessage) => {
    if (!('result' in message) || message.result !== listed.result) return send(message)
    // the frame serializeMessage() would write, {"result":…,"jsonrpc":"2.0","id":…}\n, in one writev and no copy
    out.cork()
    out.write(RESULT_OPEN)
    out.write(listed.json)
    const flushed = out.write(`,"jsonrpc":"2.0","id":${JSON.stringify(message.id)}}\n`)
    out.uncork()
    return new Promise<void>((resolve) => {
      if (flushed) resolve()
      else out.once('drain', resolve)
    })
  }
}

const RESULT_OPEN = Buffer.from('{"result":', 'utf8')
