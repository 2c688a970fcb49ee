/**
 * payload-mix: CPU per message of the server on 50 % plain text, 25 % 476-byte JSON and 25 % 64 KB binary
 * against the 81-byte JSON, at the same publish rate. The plain subscriber receives the same traffic at the
 * same time: its ratio is what mqtt.js itself pays for bigger payloads.
 */
import { startPlainSubscriber } from '../baseline.js'
import { feedWindow } from '../collect.js'
import { averagePayloadBytes, type MixName } from '../load.js'
import type { BenchContext, Scenario } from '../scenario.js'
import { round } from '../stats.js'

interface MixRun {
  readonly mix: MixName
  readonly averageBytes: number
  readonly received: number
  readonly serverUsPerMessage: number
  readonly plainUsPerMessage: number
  readonly plainReceived: number
  readonly rate: number
}

async function runMix(ctx: BenchContext, server: Awaited<ReturnType<BenchContext['startServer']>>, mix: MixName): Promise<MixRun> {
  const count = ctx.sizes.mixMessages
  const sessionId = await server.openSession(ctx.broker.url, `mix-${mix}`)
  const plain = await startPlainSubscriber({ url: ctx.broker.url, filter: 'bench/#', qos: 0, expect: count, idleMs: 2000, timeoutMs: 30_000 })
  const r = await feedWindow(server, { url: ctx.broker.url, sessionId, filters: ['bench/#'], count, rate: ctx.sizes.mixRate, qos: 0, mix })
  const p = await plain.result
  const received = r.output.statistics.total_received
  return {
    mix,
    averageBytes: Math.round(averagePayloadBytes(mix)),
    received,
    serverUsPerMessage: (r.cpuMs * 1000) / Math.max(1, received),
    plainUsPerMessage: (p.cpuMs * 1000) / Math.max(1, p.received),
    plainReceived: p.received,
    rate: r.rate,
  }
}

export const payloadMix: Scenario = {
  name: 'payload-mix',
  what: 'server CPU per message: 50 % text, 25 % 476-byte JSON, 25 % 64 KB binary vs 81-byte JSON, same rate',
  run: async (ctx) => {
    const server = await ctx.startServer()
    try {
      const small = await runMix(ctx, server, 'small-json')
      const mixed = await runMix(ctx, server, 'payload-mix')
      const ratio = mixed.serverUsPerMessage / small.serverUsPerMessage
      return {
        figures: [
          { label: 'server CPU, 81-byte JSON', value: round(small.serverUsPerMessage, 2), unit: 'µs/msg' },
          { label: 'server CPU, payload mix', value: round(mixed.serverUsPerMessage, 2), unit: 'µs/msg', ratio: round(ratio, 2), ratioTo: 'small JSON', target: '≤ 1.3× small JSON', met: ratio <= 1.3 },
          { label: 'plain subscriber CPU, 81-byte JSON', value: round(small.plainUsPerMessage, 2), unit: 'µs/msg' },
          {
            label: 'plain subscriber CPU, payload mix',
            value: round(mixed.plainUsPerMessage, 2),
            unit: 'µs/msg',
            ratio: round(mixed.plainUsPerMessage / small.plainUsPerMessage, 2),
            ratioTo: 'small JSON',
          },
        ],
        details: { rate: ctx.sizes.mixRate, messages: ctx.sizes.mixMessages, small, mixed },
      }
    } finally {
      await server.close()
    }
  },
}
