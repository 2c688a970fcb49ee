/**
 * ceiling: what a plain mqtt.js subscriber (in its own process) receives through the same broker from the same
 * publisher: 81-byte JSON over 1,000 topics, published as fast as an in-flight window allows. Every other
 * throughput figure is a ratio to this one, measured minutes apart on the same machine.
 */
import { startPlainSubscriber } from '../baseline.js'
import { BENCH_TOPICS, runLoad } from '../load.js'
import type { BenchContext, Ceiling, Figure, Scenario } from '../scenario.js'
import { round } from '../stats.js'

/** In-flight publishes of the publisher: written-but-not-called-back at QoS 0, un-PUBACKed at QoS 1. */
export const PUBLISH_WINDOW = { 0: 1000, 1: 100 } as const

export async function measureCeiling(ctx: BenchContext, qos: 0 | 1, count: number): Promise<Ceiling> {
  const subscriber = await startPlainSubscriber({ url: ctx.broker.url, filter: 'bench/#', qos, expect: count, idleMs: 2000, timeoutMs: 15_000 })
  const load = await runLoad({ url: ctx.broker.url, count, qos, topics: BENCH_TOPICS, mix: 'small-json', window: PUBLISH_WINDOW[qos] })
  const r = await subscriber.result
  return {
    qos,
    published: load.published,
    received: r.received,
    lost: load.published - r.received,
    rate: r.rate,
    cpuUsPerMessage: r.received > 0 ? (r.cpuMs * 1000) / r.received : Number.NaN,
    publisherRate: load.rate,
    publisherCpuUsPerMessage: (load.cpuMs * 1000) / load.published,
  }
}

export function ceilingFigures(c: Ceiling): Figure[] {
  const q = `QoS ${c.qos}`
  return [
    { label: `plain subscriber rate, ${q}`, value: Math.round(c.rate), unit: 'msg/s', ratio: 1, ratioTo: 'ceiling' },
    { label: `plain subscriber CPU, ${q}`, value: round(c.cpuUsPerMessage, 2), unit: 'µs/msg' },
    { label: `lost (broker queue limits), ${q}`, value: c.lost, unit: 'msg' },
    { label: `publisher rate, ${q}`, value: Math.round(c.publisherRate), unit: 'msg/s' },
  ]
}

export const ceiling: Scenario = {
  name: 'ceiling',
  what: 'plain mqtt.js subscriber, QoS 0 and 1, 81-byte JSON over 1,000 topics: the baseline',
  run: async (ctx) => {
    const qos0 = await ctx.ceiling(0)
    const qos1 = await ctx.ceiling(1)
    return {
      figures: [...ceilingFigures(qos0), ...ceilingFigures(qos1)],
      details: { qos0, qos1, publishWindow: PUBLISH_WINDOW },
    }
  },
}
