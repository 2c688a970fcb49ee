/**
 * windows: 20 concurrent `mqtt_subscribe_and_collect` calls through one session on 8 overlapping filters, then
 * one window on bench/# with the same traffic (the baseline). Each window's rate is normalised by the share of the traffic
 * its filter matches. The broker must see each filter once: checked with mqtt_list_active_connections
 * (`shared_by`) and, on Mosquitto, with $SYS/broker/subscriptions/count.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import mqtt from 'mqtt'
import { sleep } from '../children.js'
import { endWhenQuiet, feedWindow, startWindow, waitForGrants, windowRate } from '../collect.js'
import { BENCH_TOPICS, filterMatches, runLoad, topicNames } from '../load.js'
import type { Scenario } from '../scenario.js'
import { cpuMeter } from '../server.js'
import { median, round } from '../stats.js'

/** 8 distinct, overlapping filters; window i uses FILTERS[i mod 8], so some filters are shared by 3 windows. */
const FILTERS = ['bench/#', 'bench/+/+', 'bench/a/#', 'bench/b/+', 'bench/+/s01', 'bench/c/#', 'bench/d/s02', 'bench/+/s99']
const WINDOWS = 20

/** How many of `count` round-robin messages over the bench topics match `filter`. */
function expectedCount(filter: string, count: number): number {
  const topics = topicNames(BENCH_TOPICS)
  let n = 0
  topics.forEach((t, i) => {
    if (filterMatches(filter, t)) n += Math.floor(count / topics.length) + (i < count % topics.length ? 1 : 0)
  })
  return n
}

/**
 * Watches Mosquitto's $SYS/broker/subscriptions/count (republished when it changes, at most each sys_interval =
 * 1 s) for the whole scenario. The watcher's own subscription is part of every value it reads.
 */
class SubscriptionCountWatcher {
  private last: number | undefined
  private updates = 0
  private readonly listeners = new Set<(n: number) => void>()

  private constructor(
    private readonly client: mqtt.MqttClient,
    readonly subscribedAt: number,
  ) {
    client.on('message', (_t, payload: Buffer) => {
      this.last = Number(payload.toString())
      this.updates++
      for (const listener of this.listeners) listener(this.last)
    })
  }

  static async start(url: string): Promise<SubscriptionCountWatcher> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `bench-sys-${randomBytes(4).toString('hex')}` })
    const watcher = new SubscriptionCountWatcher(client, performance.now())
    await client.subscribeAsync('$SYS/broker/subscriptions/count', { qos: 0 })
    return watcher
  }

  /**
   * The current value, once the watcher's own subscription has had the time to be counted: the first value is
   * the broker's retained one, older than our SUBSCRIBE, so wait for an update after it (at most 3 s).
   */
  async settled(): Promise<number | undefined> {
    const wait = this.subscribedAt + 1500 - performance.now()
    if (wait > 0) await sleep(wait)
    if (this.updates < 2) await this.changeFrom(this.last, 1500)
    return this.last
  }

  /** The next value other than `from`, or the current one after `waitMs`. */
  changeFrom(from: number | undefined, waitMs = 3000): Promise<number | undefined> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.listeners.delete(listener)
        resolve(this.last)
      }
      const listener = (n: number): void => {
        if (n !== from) done()
      }
      const timer = setTimeout(done, waitMs)
      this.listeners.add(listener)
    })
  }

  close(): Promise<void> {
    return this.client.endAsync(true).catch(() => undefined)
  }
}

export const windows: Scenario = {
  name: 'windows',
  what: '20 concurrent collects on 8 overlapping filters through one session vs one window; broker subscriptions',
  run: async (ctx) => {
    const ceiling = await ctx.ceiling(0)
    const count = ctx.sizes.windowsMessages
    const rate = ceiling.rate
    const url = ctx.broker.url
    const mosquitto = ctx.broker.kind === 'mosquitto'
    const server = await ctx.startServer()
    let watcher: SubscriptionCountWatcher | undefined
    try {
      watcher = mosquitto ? await SubscriptionCountWatcher.start(url) : undefined
      // twenty windows first, while nothing else of this scenario is subscribed
      const sessionId = await server.openSession(url, 'windows')
      const sysBefore = await watcher?.settled()
      const durationSeconds = Math.min(300, Math.ceil((count / rate) * 3) + 20)
      const plan = Array.from({ length: WINDOWS }, (_, i) => {
        const filter = FILTERS[i % FILTERS.length]!
        return { filter, expected: expectedCount(filter, count) }
      })
      const answers = plan.map((w) => startWindow(server, { sessionId, filters: [w.filter], durationSeconds, maxMessages: w.expected, qos: 0 }))
      const info = await waitForGrants(server, sessionId, FILTERS, WINDOWS)
      const sysDuring = await watcher?.changeFrom(sysBefore)
      const cpu = cpuMeter(server.pid)
      const load = await runLoad({ url, count, qos: 0, topics: BENCH_TOPICS, mix: 'small-json', window: 1000, rate })
      const { value: outputs, closedEarly } = await endWhenQuiet(server, sessionId, Promise.all(answers))
      const { cpuMs } = cpu.stop()

      // then one window on the same stream: the baseline of this scenario
      const single = await feedWindow(server, { url, sessionId: await server.openSession(url, 'single'), filters: ['bench/#'], count, rate, qos: 0, mix: 'small-json' })

      const perWindow = plan.map((w, i) => {
        const s = outputs[i]!.structured.statistics
        const share = w.expected / count
        return {
          filter: w.filter,
          expected: w.expected,
          received: s.total_received,
          complete: w.expected > 0 ? s.total_received / w.expected : 1,
          // the rate this window would have on the whole stream
          normalisedRate: windowRate(s) / share,
        }
      })
      const ratios = perWindow.filter((w) => w.expected >= 100).map((w) => w.normalisedRate / single.rate)
      const subscriptions = info.subscriptions
      const distinct = new Set(subscriptions.map((s) => s.filter)).size
      const sharedOk = FILTERS.every((f) => subscriptions.find((s) => s.filter === f)?.shared_by === plan.filter((w) => w.filter === f).length)
      const sysDelta = sysBefore !== undefined && sysDuring !== undefined ? sysDuring - sysBefore : undefined
      const deliveries = perWindow.reduce((n, w) => n + w.received, 0)
      const medianRatio = median(ratios)
      const minRatio = Math.min(...ratios)
      return {
        figures: [
          { label: 'one window: receive rate', value: Math.round(single.rate), unit: 'msg/s', ratio: round(single.rate / ceiling.rate, 3), ratioTo: 'ceiling' },
          { label: '20 windows: median normalised rate', value: Math.round(medianRatio * single.rate), unit: 'msg/s', ratio: round(medianRatio, 3), ratioTo: 'one window', target: '≥ 80 % of one window', met: medianRatio >= 0.8 },
          { label: '20 windows: slowest normalised rate', value: Math.round(minRatio * single.rate), unit: 'msg/s', ratio: round(minRatio, 3), ratioTo: 'one window' },
          { label: '20 windows: least complete window', value: round(Math.min(...perWindow.map((w) => w.complete)) * 100, 1), unit: '% received' },
          { label: 'broker subscriptions in the session (8 filters)', value: subscriptions.length, unit: '', target: '8, shared_by = windows per filter', met: subscriptions.length === FILTERS.length && distinct === FILTERS.length && sharedOk },
          ...(sysDelta !== undefined ? [{ label: 'Mosquitto $SYS subscriptions added', value: sysDelta, unit: '', target: '8', met: sysDelta === FILTERS.length }] : []),
          { label: '20 windows: server CPU per delivery', value: round((cpuMs * 1000) / Math.max(1, deliveries), 2), unit: 'µs', ratio: round((cpuMs * 1000) / Math.max(1, deliveries) / ceiling.cpuUsPerMessage, 2), ratioTo: 'ceiling CPU/msg' },
        ],
        details: {
          rate: round(rate),
          published: load.published,
          publisherRate: round(load.rate),
          single: { rate: round(single.rate), received: single.output.statistics.total_received, closedEarly: single.closedEarly },
          closedEarly,
          subscriptions,
          sysBefore,
          sysDuring,
          perWindow: perWindow.map((w) => ({ ...w, complete: round(w.complete, 4), normalisedRate: round(w.normalisedRate) })),
          serverCpuMs: round(cpuMs),
        },
      }
    } finally {
      await server.close()
      await watcher?.close()
    }
  },
}
