/**
 * The MCP server factory: tools served from io-ts codecs through our own tools/list and tools/call
 * handlers on the SDK's low-level server (McpServer.registerTool takes zod only).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js'
import * as E from 'fp-ts/lib/Either.js'
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
  const server = new Server(
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

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: deps.tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: t.inputSchema as { type: 'object' },
      outputSchema: t.outputSchema as { type: 'object' },
      annotations: t.annotations,
    })),
  }))

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
