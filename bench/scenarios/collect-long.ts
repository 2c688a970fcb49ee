/**
 * collect-long: a million messages (quick: 100k) through one window at the ceiling rate; the server's RSS is
 * sampled throughout. Pruning and the window statistics are bounded, so the RSS should barely move.
 */
import { performance } from 'node:perf_hooks'
import { feedWindow } from '../collect.js'
import type { Scenario } from '../scenario.js'
import { MB, procRssBytes } from '../server.js'
import { round } from '../stats.js'

export const collectLong: Scenario = {
  name: 'collect-long',
  what: 'one window over 1,000,000 messages (quick: 100,000) at the ceiling rate; RSS of the server throughout',
  run: async (ctx) => {
    const ceiling = await ctx.ceiling(0)
    const count = ctx.sizes.longMessages
    const server = await ctx.startServer()
    try {
      const sessionId = await server.openSession(ctx.broker.url, 'collect-long')
      await ctx.pause(500)
      const idle = server.rssBytes()
      // RSS over time, to tell warm-up (young generation, JIT) from growth that keeps going
      const samples: Array<{ at: number; rss: number }> = []
      let timer: NodeJS.Timeout | undefined
      let loadStartedAt = 0
      const r = await feedWindow(
        server,
        { url: ctx.broker.url, sessionId, filters: ['bench/#'], count, rate: ceiling.rate, qos: 0, mix: 'small-json' },
        {
          loadStarted: () => {
            loadStartedAt = performance.now()
            timer = setInterval(() => {
              try {
                samples.push({ at: performance.now() - loadStartedAt, rss: procRssBytes(server.pid) })
              } catch {
                // gone
              }
            }, 100)
          },
          loadDone: () => clearInterval(timer),
        },
      )
      clearInterval(timer)
      const after = server.rssBytes()
      const peak = Math.max(idle, ...samples.map((s) => s.rss))
      const loadMs = samples.at(-1)?.at ?? 0
      // the peak of the last half against the RSS at 10 % of the run: growth that warm-up does not explain
      const at10 = samples.find((s) => s.at >= loadMs * 0.1)?.rss ?? idle
      const lateMax = Math.max(0, ...samples.filter((s) => s.at >= loadMs / 2).map((s) => s.rss))
      const received = r.output.statistics.total_received
      const growth = (peak - idle) / MB
      return {
        figures: [
          { label: `RSS growth over ${count.toLocaleString('en-US')} messages (peak − idle)`, value: round(growth, 1), unit: 'MB', target: '≤ 20 MB', met: growth <= 20 },
          { label: 'RSS growth after warm-up (late peak − RSS at 10 %)', value: round((lateMax - at10) / MB, 1), unit: 'MB' },
          { label: 'receive rate', value: Math.round(r.rate), unit: 'msg/s', ratio: round(r.rate / ceiling.rate, 3), ratioTo: 'ceiling' },
          { label: `lost (of ${r.load.published})`, value: r.load.published - received, unit: 'msg' },
        ],
        details: {
          idleRssMB: round(idle / MB, 1),
          peakRssMB: round(peak / MB, 1),
          afterRssMB: round(after / MB, 1),
          rssAt10PercentMB: round(at10 / MB, 1),
          lateMaxRssMB: round(lateMax / MB, 1),
          rssSamplesMB: samples.filter((_, i) => i % 5 === 0).map((s) => [round(s.at / 1000, 1), round(s.rss / MB, 1)]),
          published: r.load.published,
          publisherRate: round(r.load.rate),
          received,
          prunedSeen: r.output.pruning.seen,
          stoppedBy: r.output.stopped_by,
          closedEarly: r.closedEarly,
          serverCpuUsPerMessage: round((r.cpuMs * 1000) / Math.max(1, received), 2),
        },
      }
    } finally {
      await server.close()
    }
  },
}
