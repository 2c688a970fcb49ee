/** The /mcp route group: Streamable HTTP for remote MCP clients, behind the same guard as every route. */
import type { FastifyPluginAsync } from 'fastify'
import type { McpHttpHandler } from '../mcp/http-transport.js'

/** MCP messages carry publish payloads of up to 1 MiB as text: allow for their JSON encoding. */
const MCP_BODY_LIMIT = 4 * 1024 * 1024

const sse = { 'text/event-stream': { schema: { type: 'string' } } } as const

/** How /docs describes each method; the transport validates the JSON-RPC itself, so nothing here validates (no body schema). */
const MCP_DOCS = {
  POST: {
    tags: ['mcp'],
    summary: 'Send JSON-RPC messages',
    description: 'A JSON-RPC request, notification or response; `initialize` starts an MCP session, whose id comes back in `Mcp-Session-Id` (send it with every later request).',
    response: {
      200: { description: 'The JSON-RPC response, as JSON or as an SSE stream.', content: { 'application/json': { schema: { type: 'object' } }, ...sse } },
      202: { description: 'Accepted (a notification or a response).', type: 'null' },
    },
  },
  GET: {
    tags: ['mcp'],
    summary: 'Open the server-to-client SSE stream',
    description: 'With `Mcp-Session-Id` and `Accept: text/event-stream`: notifications and requests from the server.',
    response: { 200: { description: 'An SSE stream.', content: sse } },
  },
  DELETE: {
    tags: ['mcp'],
    summary: 'End the MCP session',
    description: 'With `Mcp-Session-Id`: ends the MCP session and closes every MQTT session it opened.',
    response: { 200: { description: 'Ended.', type: 'null' } },
  },
} as const

export const mcpRoutes: FastifyPluginAsync<{ handler: McpHttpHandler }> = async (http, { handler }) => {
  http.addHook('onClose', async () => handler.closeAll())
  for (const method of ['POST', 'GET', 'DELETE'] as const) {
    http.route({
      method,
      url: '/mcp',
      bodyLimit: MCP_BODY_LIMIT,
      config: { access: 'api' },
      schema: { ...MCP_DOCS[method] },
      handler: async (req, reply) => {
        // the SDK transport writes the response (JSON or an SSE stream) itself
        reply.hijack()
        await handler.handle(req.raw, reply.raw, req.body)
      },
    })
  }
}
