/**
 * collect: one `mqtt_subscribe_and_collect` window on bench/# fed at the ceiling rate (the publisher in
 * target-rate mode), at QoS 0 and QoS 1. While it runs, `tools/list` round trips stand in for the server's
 * event-loop delay.
 */
import { feedWindow } from '../collect.js'
import { startProbes, type ProbeSamples } from '../probe.js'
import type { Figure, Scenario } from '../scenario.js'
import { latencySummary, percentile, round } from '../stats.js'

export const collect: Scenario = {
  name: 'collect',
  what: 'mqtt_subscribe_and_collect on bench/# fed at the ceiling rate (QoS 0 and 1); tools/list round trips as event-loop proxy',
  run: async (ctx) => {
    const server = await ctx.startServer()
    const figures: Figure[] = []
    const details: Record<string, unknown> = {}
    try {
      for (const qos of [0, 1] as const) {
        const count = qos === 0 ? ctx.sizes.collectMessages : ctx.sizes.collectQos1Messages
        if (count === 0) continue
        const ceiling = await ctx.ceiling(qos)
        const sessionId = await server.openSession(ctx.broker.url, `collect-qos${qos}`)
        await server.listToolsMs() // the first tools/list pays for lazy work once: not what is measured
        let probes: ReturnType<typeof startProbes> | undefined
        let samples: ProbeSamples = { toolsList: [], publish: [], ping: [] }
        const r = await feedWindow(
          server,
          { url: ctx.broker.url, sessionId, filters: ['bench/#'], count, rate: ceiling.rate, qos, mix: 'small-json' },
          {
            loadStarted: () => (probes = startProbes(server, { pauseMs: 20 })),
            loadDone: async () => {
              samples = (await probes?.stop()) ?? samples
            },
          },
        )
        const received = r.output.statistics.total_received
        const lost = r.load.published - received
        const ratio = r.rate / ceiling.rate
        const p99 = percentile(samples.toolsList, 99)
        const q = `QoS ${qos}`
        figures.push(
          { label: `receive rate, ${q}`, value: Math.round(r.rate), unit: 'msg/s', ratio: round(ratio, 3), ratioTo: 'ceiling', target: '≥ 90 % of ceiling', met: ratio >= 0.9 },
          // the publisher may fall short of the target rate on a busy machine: did the server keep up with what came?
          { label: `receive rate vs publish rate, ${q}`, value: Math.round(r.load.rate), unit: 'msg/s published', ratio: round(r.rate / r.load.rate, 3), ratioTo: 'publisher' },
          { label: `lost, ${q} (of ${r.load.published})`, value: lost, unit: 'msg', ...(qos === 0 ? { target: '0', met: lost === 0 } : {}) },
          { label: `tools/list p99 under load, ${q}`, value: round(p99, 1), unit: 'ms', ...(qos === 0 ? { target: 'event loop p99 ≤ 50 ms', met: p99 <= 50 } : {}) },
          { label: `server CPU, ${q}`, value: round((r.cpuMs * 1000) / Math.max(1, received), 2), unit: 'µs/msg', ratio: round((r.cpuMs * 1000) / Math.max(1, received) / ceiling.cpuUsPerMessage, 2), ratioTo: 'ceiling CPU' },
        )
        details[`qos${qos}`] = {
          ceilingRate: round(ceiling.rate),
          publisherRate: round(r.load.rate),
          published: r.load.published,
          received,
          prunedSeen: r.output.pruning.seen,
          stoppedBy: r.output.stopped_by,
          closedEarly: r.closedEarly,
          windowRate: round(r.rate),
          serverCpuMs: round(r.cpuMs),
          resultChars: r.resultChars,
          toolsListUnderLoad: latencySummary(samples.toolsList),
        }
      }
    } finally {
      await server.close()
    }
    return { figures, details }
  },
}
