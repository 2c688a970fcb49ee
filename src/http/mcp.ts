/** The /mcp route group: Streamable HTTP for remote MCP clients, behind the same guard as every route. */
import type { FastifyPluginAsync } from 'fastify'
import type { McpHttpHandler } from '../mcp/http-transport.js'

/** MCP messages carry publish payloads of up to 1 MiB as text: allow for their JSON encoding. */
const MCP_BODY_LIMIT = 4 * 1024 * 1024

export const mcpRoutes: FastifyPluginAsync<{ handler: McpHttpHandler }> = async (http, { handler }) => {
  http.addHook('onClose', async () => handler.closeAll())
  for (const method of ['POST', 'GET', 'DELETE'] as const) {
    http.route({
      method,
      url: '/mcp',
      bodyLimit: MCP_BODY_LIMIT,
      config: { access: 'api' },
      handler: async (req, reply) => {
        // the SDK transport writes the response (JSON or an SSE stream) itself
        reply.hijack()
        await handler.handle(req.raw, reply.raw, req.body)
      },
    })
  }
}
