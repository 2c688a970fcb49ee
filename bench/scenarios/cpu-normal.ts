/**
 * cpu-normal: one window on bench/# while 1,000 msg/s of mixed traffic (40 % 81-byte JSON, 30 % text, 25 %
 * 476-byte JSON, 5 % 64 KB binary) arrive for 60 s (quick: 10 s): the server's share of one core, against a
 * plain subscriber receiving the same traffic at the same time.
 */
import { startPlainSubscriber } from '../baseline.js'
import { endWhenQuiet, openWindow } from '../collect.js'
import { BENCH_TOPICS, runLoad } from '../load.js'
import type { Scenario } from '../scenario.js'
import { cpuMeter } from '../server.js'
import { round } from '../stats.js'

const RATE = 1000

export const cpuNormal: Scenario = {
  name: 'cpu-normal',
  what: 'a window on 1,000 msg/s of mixed traffic for 60 s (quick: 10 s): server CPU as % of one core',
  run: async (ctx) => {
    const seconds = ctx.sizes.cpuNormalSeconds
    const count = RATE * seconds
    const url = ctx.broker.url
    const server = await ctx.startServer()
    try {
      const sessionId = await server.openSession(url, 'cpu-normal')
      const plain = await startPlainSubscriber({ url, filter: 'bench/#', qos: 0, expect: count, idleMs: 2000, timeoutMs: 30_000 })
      const { answer } = await openWindow(server, { sessionId, filters: ['bench/#'], durationSeconds: seconds + 30, maxMessages: count, qos: 0 })
      const cpu = cpuMeter(server.pid)
      const load = await runLoad({ url, count, qos: 0, topics: BENCH_TOPICS, mix: 'mixed', window: 1000, rate: RATE })
      const { cpuMs, wallMs } = cpu.stop()
      const { value } = await endWhenQuiet(server, sessionId, answer)
      const p = await plain.result
      const share = (cpuMs / wallMs) * 100
      const plainShare = (p.cpuMs / (p.spanMs > 0 ? p.spanMs : wallMs)) * 100
      return {
        figures: [
          { label: `server CPU at ${RATE} msg/s mixed`, value: round(share, 1), unit: '% of a core', ratio: round(share / plainShare, 2), ratioTo: 'plain subscriber', target: '≤ 10 %', met: share <= 10 },
          { label: 'plain subscriber CPU, same traffic', value: round(plainShare, 1), unit: '% of a core' },
        ],
        details: {
          seconds,
          published: load.published,
          publisherRate: round(load.rate),
          received: value.structured.statistics.total_received,
          plainReceived: p.received,
          serverCpuMs: round(cpuMs),
          wallMs: round(wallMs),
          plainCpuMs: round(p.cpuMs),
        },
      }
    } finally {
      await server.close()
    }
  },
}
