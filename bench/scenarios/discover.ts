/**
 * discover: `mqtt_list_topics` over 10,000 and 100,000 retained topics (quick: 10,000). The topics are published
 * retained at QoS 1 first (in-flight window of 200, every PUBACK awaited), each size under a prefix of its own.
 * The server's heap is not visible from outside: its RSS growth during the call stands in for it.
 */
import { startPlainSubscriber } from '../baseline.js'
import { runLoad } from '../load.js'
import type { Figure, Scenario } from '../scenario.js'
import { MB, RssSampler } from '../server.js'
import { round } from '../stats.js'

/** The server's default MQTT_MCP_OUTPUT_BUDGET_CHARS. */
const OUTPUT_BUDGET = 60_000
/** The largest max_topics mqtt_list_topics accepts. */
const MAX_TOPICS_LIMIT = 100_000

interface TreeNode {
  children?: TreeNode[]
}

interface ListTopicsOutput {
  topic_count: number
  message_count: number
  retained_count: number
  stopped_by: string
  truncated: boolean
  folded: boolean
  tree: TreeNode[]
  notes: string[]
}

/** Nodes the answer shows (folded ones count once). */
const countNodes = (nodes: readonly TreeNode[]): number => nodes.reduce((n, x) => n + 1 + countNodes(x.children ?? []), 0)

export const discover: Scenario = {
  name: 'discover',
  what: 'mqtt_list_topics over 10,000 and 100,000 retained topics (quick: 10,000): time, completeness, RSS, result size',
  run: async (ctx) => {
    const figures: Figure[] = []
    const details: Record<string, unknown> = {}
    for (const n of ctx.sizes.discoverTopics) {
      const k = `${n / 1000}k`
      const prefix = `discover-${k}`
      ctx.log(`publishing ${n} retained topics below ${prefix}/`)
      const seeded = await runLoad({ url: ctx.broker.url, count: n, qos: 1, retain: true, topics: { prefix, count: n }, mix: 'small-json', window: 200 })
      // the baseline: how many retained messages the broker hands a plain subscriber at QoS 0, and how fast
      const plain = await (await startPlainSubscriber({ url: ctx.broker.url, filter: `${prefix}/#`, qos: 0, expect: n, idleMs: 1500, timeoutMs: 10_000 })).result
      const server = await ctx.startServer()
      try {
        const sessionId = await server.openSession(ctx.broker.url, `discover-${k}`)
        await ctx.pause(500)
        const durationSeconds = n <= 10_000 ? 3 : 5
        const maxTopics = Math.min(n + 100, MAX_TOPICS_LIMIT)
        const rss = new RssSampler(server.pid, 50)
        const r = await server.ok<ListTopicsOutput>('mqtt_list_topics', { session_id: sessionId, pattern: `${prefix}/#`, max_topics: maxTopics, duration_seconds: durationSeconds }, 120_000)
        const mem = rss.stop()
        const beyond = r.ms - durationSeconds * 1000
        const growth = (mem.peak - mem.first) / MB
        const s = r.structured
        const big = n >= 100_000
        figures.push(
          { label: `${k}: topics found`, value: s.topic_count, unit: `of ${n.toLocaleString('en-US')}`, ratio: round(s.topic_count / Math.max(1, plain.received), 3), ratioTo: 'plain subscriber', target: `= ${n.toLocaleString('en-US')}`, met: s.topic_count === n },
          {
            label: `${k}: call time beyond the ${durationSeconds} s window`,
            value: Math.round(beyond),
            unit: 'ms',
            ...(big ? { target: '100k in ≤ 2 s', met: beyond <= 2000 } : {}),
          },
          { label: `${k}: server RSS growth (heap proxy)`, value: round(growth, 1), unit: 'MB', ...(big ? { target: '≤ 50 MB', met: growth <= 50 } : {}) },
          { label: `${k}: tree nodes shown`, value: countNodes(s.tree), unit: 'nodes' },
          { label: `${k}: result size`, value: r.text.length, unit: 'chars', ratio: round(r.text.length / OUTPUT_BUDGET, 2), ratioTo: 'budget', target: `≤ ${OUTPUT_BUDGET.toLocaleString('en-US')}`, met: r.text.length <= OUTPUT_BUDGET },
        )
        details[k] = {
          seedRate: round(seeded.rate),
          seedMs: round(seeded.elapsedMs),
          plainSubscriber: { received: plain.received, replayMs: round(plain.spanMs), stoppedBy: plain.stoppedBy },
          callMs: round(r.ms),
          durationSeconds,
          maxTopics,
          topicCount: s.topic_count,
          retainedCount: s.retained_count,
          messageCount: s.message_count,
          stoppedBy: s.stopped_by,
          truncated: s.truncated,
          folded: s.folded,
          rootNodes: s.tree.length,
          shownNodes: countNodes(s.tree),
          notes: s.notes,
          rssBeforeMB: round(mem.first / MB, 1),
          rssPeakMB: round(mem.peak / MB, 1),
          rssAfterMB: round(mem.last / MB, 1),
          resultChars: r.text.length,
        }
      } finally {
        await server.close()
        // cleared, or every later `#` subscription (the feed's) would start with a replay of these topics
        await runLoad({ url: ctx.broker.url, count: n, qos: 1, retain: true, topics: { prefix, count: n }, mix: 'empty', window: 200 })
      }
    }
    return { figures, details }
  },
}
