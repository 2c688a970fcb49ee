/** The JSON API route group: /health, /api/status, /api/sessions, /api/sessions/:id, /api/tool-calls. */
import type { FastifyPluginAsync } from 'fastify'
import * as E from 'fp-ts/lib/Either.js'
import type { SchedulerLike } from 'rxjs'
import type { App } from '../app.js'
import { codeOf } from '../errors.js'
import type { SessionState } from '../sessions/session.js'
import type { RateMeter } from './rates.js'
import { errorSchema, healthSchema, sessionDetailSchema, sessionsSchema, statusSchema, toolCallsSchema } from './schemas.js'

export interface StatusOptions {
  readonly app: App
  readonly version: string
  readonly meter: RateMeter
  readonly feedCounts: () => { clients: number; dropped_clients: number }
  readonly scheduler: SchedulerLike
}

/** Topic tree size of /api/sessions/:id when `budget_chars` is not given, in characters. */
export const DEFAULT_TREE_BUDGET_CHARS = 30_000

/** The JSON routes, each with its declared response schema. */
export const statusRoutes: FastifyPluginAsync<StatusOptions> = async (http, o) => {
  const { registry, toolCalls } = o.app
  const uptime = (): number => Math.max(0, Math.floor((o.scheduler.now() - o.app.startedAt) / 1000))

  http.get('/health', { schema: { tags: ['status'], summary: 'Liveness: ok, the version and the uptime', response: { 200: healthSchema } } }, async () => ({
    status: 'ok',
    version: o.version,
    uptime_seconds: uptime(),
  }))

  const statusSummary = 'Sessions by state, tool call counts, message totals and rate, memory, live feed clients'
  http.get('/api/status', { schema: { tags: ['status'], summary: statusSummary, response: { 200: statusSchema } } }, async () => {
    const sessions = registry.list()
    const byState: Record<SessionState, number> = { connecting: 0, connected: 0, reconnecting: 0, closed: 0 }
    for (const s of sessions) byState[s.state]++
    const memory = process.memoryUsage()
    return {
      version: o.version,
      uptime_seconds: uptime(),
      memory: { rss_bytes: memory.rss, heap_used_bytes: memory.heapUsed },
      sessions: { total: sessions.length, by_state: byState },
      tool_calls: toolCalls.counts(),
      messages: { received_total: o.meter.receivedTotal(), per_second: o.meter.latest().total_per_second },
      feed: o.feedCounts(),
    }
  })

  http.get('/api/sessions', { schema: { tags: ['status'], summary: 'The open sessions (no secrets), as mqtt_list_active_connections shows them', response: { 200: sessionsSchema } } }, async () => ({
    sessions: registry.list().map((s) => s.info(registry.ttlMs)),
    max_sessions: registry.maxSessions,
  }))

  http.get<{ Params: { id: string }; Querystring: { budget_chars: number } }>(
    '/api/sessions/:id',
    {
      schema: {
        tags: ['status'],
        summary: 'One session and the topic tree of what it received',
        description: 'The tree is kept within `budget_chars` characters (`truncated` and `folded` say when it was cut).',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { budget_chars: { type: 'integer', minimum: 2000, maximum: 1_000_000, default: DEFAULT_TREE_BUDGET_CHARS } },
        },
        response: { 200: sessionDetailSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const found = registry.get(req.params.id)
      if (E.isLeft(found)) return reply.code(404).send({ error: { code: codeOf(found.left), message: found.left.message } })
      const session = found.right
      return { session: session.info(registry.ttlMs), topics: session.observedTree(req.query.budget_chars) }
    },
  )

  http.get<{ Querystring: { limit: number } }>(
    '/api/tool-calls',
    {
      schema: {
        tags: ['status'],
        summary: 'The most recent tool calls, newest last, with redacted arguments',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
        },
        response: { 200: toolCallsSchema },
      },
    },
    async (req) => ({ calls: toolCalls.recent(req.query.limit) }),
  )
}
