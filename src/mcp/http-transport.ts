/**
 * MCP over Streamable HTTP, framework-neutral: one SDK transport and one MCP server per MCP session
 * (`Mcp-Session-Id`), POST for requests, GET for the notification stream, DELETE to end. The HTTP layer
 * (src/http/mcp.ts) mounts it; Host/Origin/token checks happen there, before a request gets here.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js'

export interface McpHttpDeps {
  /** A fresh MCP server for a client whose MCP session id is `owner`. */
  readonly newServer: (owner: string) => Server
  /** The client's MCP session ended (DELETE, or its transport closed): release what it owned. */
  readonly onSessionClosed: (owner: string) => void
  /**
   * An MCP session with no request and no open GET stream for this long is closed, in ms: one-shot clients
   * (the Inspector CLI, scripts) never send DELETE, and their sessions must not pile up.
   */
  readonly idleMs: number
}

export interface McpHttpHandler {
  /** Handles one request to /mcp; `body` is the parsed JSON body of a POST. */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>
  /** Open MCP sessions. */
  count(): number
  closeAll(): Promise<void>
}

const jsonRpcError = (res: ServerResponse, status: number, message: string): void => {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }))
}

/** Creates the handler that owns every Streamable HTTP MCP session. */
export function createMcpHttpHandler(deps: McpHttpDeps): McpHttpHandler {
  const sessions = new Map<string, StreamableHTTPServerTransport>()
  const lastSeen = new Map<string, number>()
  const streaming = new Map<string, number>()
  const sweeper = setInterval(() => {
    const now = Date.now()
    for (const [id, transport] of sessions) {
      if ((streaming.get(id) ?? 0) === 0 && now - (lastSeen.get(id) ?? now) >= deps.idleMs) void transport.close()
    }
  }, Math.max(1000, Math.min(60_000, Math.floor(deps.idleMs / 4))))
  sweeper.unref()

  const open = async (): Promise<StreamableHTTPServerTransport> => {
    // the id is known before initialize so the MCP server can be scoped to it from its first request
    const id = randomUUID()
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      onsessioninitialized: () => void sessions.set(id, transport),
    })
    transport.onclose = () => {
      lastSeen.delete(id)
      streaming.delete(id)
      if (sessions.delete(id)) deps.onSessionClosed(id)
    }
    await deps.newServer(id).connect(transport)
    return transport
  }

  return {
    handle: async (req, res, body) => {
      const header = req.headers['mcp-session-id']
      const id = Array.isArray(header) ? header[0] : header
      if (id !== undefined) {
        const transport = sessions.get(id)
        // the spec's answer to an unknown or ended session: 404, and the client starts a new one
        if (transport === undefined) return jsonRpcError(res, 404, 'Session not found: initialize a new MCP session.')
        lastSeen.set(id, Date.now())
        if (req.method === 'GET') {
          // an open notification stream is a live client, however long it stays quiet
          streaming.set(id, (streaming.get(id) ?? 0) + 1)
          res.once('close', () => {
            streaming.set(id, (streaming.get(id) ?? 1) - 1)
            lastSeen.set(id, Date.now())
          })
        }
        return transport.handleRequest(req, res, body)
      }
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        return jsonRpcError(res, 400, 'Bad Request: send initialize first, then every request with its Mcp-Session-Id header.')
      }
      const transport = await open()
      await transport.handleRequest(req, res, body)
      if (transport.sessionId !== undefined) lastSeen.set(transport.sessionId, Date.now())
    },
    count: () => sessions.size,
    closeAll: async () => {
      clearInterval(sweeper)
      await Promise.allSettled([...sessions.values()].map((t) => t.close()))
      sessions.clear()
    },
  }
}
