/**
 * rpc: round trips of `tools/list` and of a QoS 0 `mqtt_publish_message`, first on an idle server, then while a
 * window on bench/# receives at the ceiling rate (through the same session the publishes go out on).
 */
import { feedWindow } from '../collect.js'
import { probeIdle, startProbes, type ProbeSamples } from '../probe.js'
import type { Scenario } from '../scenario.js'
import { latencySummary, percentile, round } from '../stats.js'

export const rpc: Scenario = {
  name: 'rpc',
  what: 'tools/list and QoS 0 publish round trips, idle and while a window receives at the ceiling rate',
  run: async (ctx) => {
    const ceiling = await ctx.ceiling(0)
    const server = await ctx.startServer()
    try {
      const sessionId = await server.openSession(ctx.broker.url, 'rpc')
      await probeIdle(server, sessionId, 3) // warm-up: JIT, first-use paths
      const idle = await probeIdle(server, sessionId, ctx.sizes.rpcProbes)
      const count = Math.round(ceiling.rate * ctx.sizes.rpcLoadSeconds)
      let probes: ReturnType<typeof startProbes> | undefined
      let loaded: ProbeSamples = { toolsList: [], publish: [], ping: [] }
      const window = await feedWindow(
        server,
        { url: ctx.broker.url, sessionId, filters: ['bench/#'], count, rate: ceiling.rate, qos: 0, mix: 'small-json' },
        {
          loadStarted: () => (probes = startProbes(server, { sessionId, pauseMs: 10 })),
          loadDone: async () => {
            loaded = (await probes?.stop()) ?? loaded
          },
        },
      )
      const idlePing = percentile(idle.ping, 50)
      const idleList = percentile(idle.toolsList, 50)
      const idlePublish = percentile(idle.publish, 50)
      const loadedList = percentile(loaded.toolsList, 99)
      const loadedPublish = percentile(loaded.publish, 99)
      return {
        figures: [
          { label: 'idle ping p50 (stdio floor)', value: round(idlePing, 2), unit: 'ms' },
          { label: 'idle tools/list p50', value: round(idleList, 2), unit: 'ms', ratio: round(idleList / idlePing, 1), ratioTo: 'ping', target: '≤ 2 ms', met: idleList <= 2 },
          { label: 'idle publish (QoS 0) p50', value: round(idlePublish, 2), unit: 'ms', ratio: round(idlePublish / idlePing, 1), ratioTo: 'ping', target: '≤ 2 ms', met: idlePublish <= 2 },
          { label: 'under load: tools/list p99', value: round(loadedList, 1), unit: 'ms', ratio: round(loadedList / percentile(idle.toolsList, 99), 1), ratioTo: 'idle p99', target: '≤ 100 ms', met: loadedList <= 100 },
          { label: 'under load: publish (QoS 0) p99', value: round(loadedPublish, 1), unit: 'ms', ratio: round(loadedPublish / percentile(idle.publish, 99), 1), ratioTo: 'idle p99', target: '≤ 100 ms', met: loadedPublish <= 100 },
        ],
        details: {
          idle: { ping: latencySummary(idle.ping), toolsList: latencySummary(idle.toolsList), publish: latencySummary(idle.publish) },
          underLoad: { toolsList: latencySummary(loaded.toolsList), publish: latencySummary(loaded.publish) },
          load: { rate: round(ceiling.rate), published: window.load.published, received: window.output.statistics.total_received, windowRate: round(window.rate) },
        },
      }
    } finally {
      await server.close()
    }
  },
}
