/** The /metrics route group: Prometheus text from this app's metric set, which it opens and closes. */
import type { FastifyPluginAsync } from 'fastify'
import type { App } from '../app.js'
import { createMetricSet } from './metric-set.js'
import type { RateMeter } from './rates.js'

export interface MetricsOptions {
  readonly app: App
  readonly meter: RateMeter
  readonly feedCounts: () => { clients: number; dropped_clients: number }
}

/** GET /metrics (token when set, like the JSON API). */
export const metricsRoutes: FastifyPluginAsync<MetricsOptions> = async (http, o) => {
  const metrics = createMetricSet({
    registry: o.app.registry,
    toolCalls: o.app.toolCalls,
    receivedTotal: () => o.meter.receivedTotal(),
    feedCounts: o.feedCounts,
  })
  http.addHook('onClose', async () => metrics.stop())

  http.get(
    '/metrics',
    {
      config: { access: 'api' },
      schema: {
        tags: ['metrics'],
        summary: 'Prometheus metrics',
        description:
          'Sessions by state, reconnects, messages and bytes received per session, tool calls by tool and outcome with their ' +
          'durations, windows open, live feed clients, and the process (memory, CPU, event loop lag, GC), in the Prometheus text format.',
        response: { 200: { description: 'Prometheus text format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    async (_req, reply) => reply.type(metrics.contentType).send(await metrics.render()),
  )
}
