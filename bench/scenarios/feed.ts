/**
 * feed: the status server's live feed under traffic. One window on bench/# fed at 10,000 msg/s (the QoS 0
 * ceiling when that is lower), first with no feed clients, then with 5 on /ws: 4 that read every frame and 1
 * that completes the handshake and never reads (a frozen tab). The clients run in a worker process of their own.
 * While a client listens the feed subscribes every session to `#`, so the broker sends the server a second copy
 * of every message: that is part of what the clients cost. The full run measures the no-client window again
 * afterwards and compares with the mean of both, as the machine's load drifts by the minute.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { kill, nextMessage, track, untrack } from '../children.js'
import { feedWindow, sessionInfo, waitForGrants, type FeedResult } from '../collect.js'
import type { BenchContext, Scenario } from '../scenario.js'
import { MB, RssSampler, type BenchServer } from '../server.js'
import { round } from '../stats.js'
import type { FeedClientsResult, FeedClientsSpec } from '../workers/feed-clients.js'

/** The publish rate the issue asks for, msg/s. */
const FEED_RATE = 10_000
const READERS = 4
const STALLED = 1
/** Targets: the window's rate with clients against without, and the server's RSS growth with clients. */
const RATE_TARGET = 0.9
const RSS_TARGET_MB = 30

/** The clients' worker, forked (and tracked) per scenario run: it holds sockets the bench must not reuse. */
class FeedClients {
  private constructor(private readonly child: ChildProcess) {}

  static start(): FeedClients {
    const file = fileURLToPath(new URL('../workers/feed-clients.js', import.meta.url))
    const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
    track(child.pid)
    child.once('exit', () => untrack(child.pid))
    return new FeedClients(child)
  }

  /** Connects the clients; resolves when every reader has its hello frame and every stalled client its 101. */
  async connect(spec: FeedClientsSpec): Promise<void> {
    const ready = nextMessage(this.child, (m): m is { type: 'ready' } => (m as { type?: string }).type === 'ready', 30_000, 'feed clients')
    this.child.send({ type: 'run', spec })
    await ready
  }

  /** Closes the clients and returns what each of them got. */
  async stop(): Promise<FeedClientsResult> {
    const done = nextMessage(this.child, (m): m is { type: 'done'; result: FeedClientsResult } => (m as { type?: string }).type === 'done', 15_000, 'feed clients')
    this.child.send({ type: 'stop' })
    return (await done).result
  }

  close(): void {
    kill(this.child.pid)
  }
}

interface Run {
  readonly window: FeedResult
  readonly rate: number
  readonly received: number
  readonly lost: number
  readonly cpuUsPerMessage: number
  /** Server RSS before the window (and before the clients connected, in the run with clients), in bytes. */
  readonly rssBefore: number
  readonly rssPeak: number
  readonly rssAfter: number
  readonly loadStartedAt: number
  readonly subscriptions: ReadonlyArray<{ filter: string; shared_by: number }>
}

/** One window on a session of its own at `rate`, closed afterwards; the server's RSS sampled while it is fed. */
async function measureWindow(ctx: BenchContext, server: BenchServer, rate: number, count: number, name: string, opts: { rssBefore?: number; feedSubscribed?: boolean } = {}): Promise<Run> {
  const sessionId = await server.openSession(ctx.broker.url, name)
  // the feed subscribes sessions opened while it listens too: wait for that, or the first messages see one copy
  if (opts.feedSubscribed === true) await waitForGrants(server, sessionId, ['#'])
  const rssBefore = opts.rssBefore ?? server.rssBytes()
  let sampler: RssSampler | undefined
  let loadStartedAt = 0
  let subscriptions: Promise<Run['subscriptions']> = Promise.resolve([])
  const window = await feedWindow(
    server,
    { url: ctx.broker.url, sessionId, filters: ['bench/#'], count, rate, qos: 0, mix: 'small-json' },
    {
      loadStarted: () => {
        loadStartedAt = Date.now()
        sampler = new RssSampler(server.pid, 100)
        // read while the window still holds its subscription: it ends at its limit, before the load is done
        subscriptions = sessionInfo(server, sessionId).then(
          (info) => info.subscriptions.map((s) => ({ filter: s.filter, shared_by: s.shared_by })),
          () => [],
        )
      },
    },
  )
  const rss = sampler?.stop() ?? { peak: 0, last: 0 }
  // a session left open would be subscribed to # by the feed in the next run and double its traffic
  if (!window.closedEarly) await server.call('mqtt_close_connection', { session_id: sessionId })
  const received = window.output.statistics.total_received
  return {
    window,
    rate: window.rate,
    received,
    lost: window.load.published - received,
    cpuUsPerMessage: (window.cpuMs * 1000) / Math.max(1, received),
    rssBefore,
    rssPeak: Math.max(rssBefore, rss.peak),
    rssAfter: rss.last,
    loadStartedAt,
    subscriptions: await subscriptions,
  }
}

const runDetails = (r: Run): Record<string, unknown> => ({
  windowRate: round(r.rate),
  publisherRate: round(r.window.load.rate),
  published: r.window.load.published,
  received: r.received,
  lost: r.lost,
  stoppedBy: r.window.output.stopped_by,
  closedEarly: r.window.closedEarly,
  serverCpuMs: round(r.window.cpuMs),
  serverCpuUsPerMessage: round(r.cpuUsPerMessage, 2),
  rssBeforeMB: round(r.rssBefore / MB, 1),
  rssPeakMB: round(r.rssPeak / MB, 1),
  rssAfterMB: round(r.rssAfter / MB, 1),
  rssGrowthMB: round((r.rssPeak - r.rssBefore) / MB, 1),
  subscriptions: r.subscriptions,
})

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

export const feed: Scenario = {
  name: 'feed',
  what: `a window at ${FEED_RATE.toLocaleString('en-US')} msg/s with ${READERS + STALLED} live feed clients (${READERS} reading, ${STALLED} stalled) vs none: rate, server CPU and RSS, the stalled client dropped`,
  run: async (ctx) => {
    const ceiling = await ctx.ceiling(0)
    const rate = Math.min(FEED_RATE, ceiling.rate)
    const count = Math.round(rate * ctx.sizes.feedSeconds)
    const server = await ctx.startServer()
    // forked now: loading ws takes a moment on a busy machine, and the worker idles through the first window
    const clients = FeedClients.start()
    try {
      const statusUrl = await server.statusUrl()
      await ctx.pause(500)
      const without = [await measureWindow(ctx, server, rate, count, 'feed-none')]

      await ctx.pause(500)
      const rssIdle = server.rssBytes()
      await clients.connect({ url: statusUrl, readers: READERS, stalled: STALLED, pollMs: 100 })
      const withClients = await measureWindow(ctx, server, rate, count, 'feed-clients', { rssBefore: rssIdle, feedSubscribed: true })
      const got = await clients.stop()
      await ctx.pause(500)
      const rssAfterClients = server.rssBytes()

      // the same window again without clients: the baseline is the mean of the runs on either side
      if (!ctx.quick) without.push(await measureWindow(ctx, server, rate, count, 'feed-none-again'))

      const baseRate = mean(without.map((r) => r.rate))
      const baseCpu = mean(without.map((r) => r.cpuUsPerMessage))
      const rateRatio = withClients.rate / baseRate
      const rssGrowth = (withClients.rssPeak - rssIdle) / MB
      const dropped = got.droppedAfter - got.droppedBefore
      const dropSeconds = got.firstDropSeenAt === null ? null : (got.firstDropSeenAt - withClients.loadStartedAt) / 1000
      const readerSamples = got.readers.map((r) => r.samples)
      const readerFrames = got.readers.map((r) => r.byType['messages'] ?? 0)
      const readersClosed = got.readers.filter((r) => r.closed !== null).length
      const loadSeconds = withClients.window.load.elapsedMs / 1000
      const worstAge = Math.max(...got.readers.map((r) => r.ageMs.p99))
      const baseRssGrowth = Math.max(...without.map((r) => r.rssPeak - r.rssBefore)) / MB
      const heap = got.memory.map(([, heapMB]) => heapMB)
      return {
        figures: [
          { label: `receive rate, no feed clients (${without.length === 1 ? 'one run' : `mean of ${without.length}`})`, value: Math.round(baseRate), unit: 'msg/s', ratio: round(baseRate / rate, 3), ratioTo: 'publish rate' },
          { label: `receive rate, ${READERS} reading + ${STALLED} stalled clients`, value: Math.round(withClients.rate), unit: 'msg/s', ratio: round(rateRatio, 3), ratioTo: 'no clients', target: `≥ ${RATE_TARGET * 100} % of no clients`, met: rateRatio >= RATE_TARGET },
          { label: `lost with clients (of ${withClients.window.load.published})`, value: withClients.lost, unit: 'msg', target: '0', met: withClients.lost === 0 },
          { label: 'server CPU, no clients', value: round(baseCpu, 2), unit: 'µs/msg', ratio: round(baseCpu / ceiling.cpuUsPerMessage, 2), ratioTo: 'ceiling CPU' },
          { label: 'server CPU, with clients', value: round(withClients.cpuUsPerMessage, 2), unit: 'µs/msg', ratio: round(withClients.cpuUsPerMessage / baseCpu, 2), ratioTo: 'no clients' },
          { label: 'server RSS growth with clients (peak − before they connected)', value: round(rssGrowth, 1), unit: 'MB', target: `≤ ${RSS_TARGET_MB} MB`, met: rssGrowth <= RSS_TARGET_MB },
          { label: `server RSS growth, no clients (peak − before; largest of ${without.length})`, value: round(baseRssGrowth, 1), unit: 'MB' },
          // the heap is sampled through /api/status: its low points are the live heap, its peaks garbage a mark-compact frees
          { label: `server heap with clients: highest (lowest ${heap.length === 0 ? '?' : round(Math.min(...heap), 1)} MB)`, value: heap.length === 0 ? null : round(Math.max(...heap), 1), unit: 'MB' },
          {
            label: 'stalled client dropped by the server, after',
            value: dropSeconds === null ? null : round(dropSeconds, 1),
            unit: 's of traffic',
            // the kernel takes ~4 MB for the stalled socket before the server's own buffer grows: ~10 s at this rate
            ...(ctx.quick ? {} : { target: 'dropped during the run', met: dropped >= STALLED }),
          },
          { label: `reading clients: messages frames each (min; ${round(loadSeconds, 1)} s of traffic)`, value: Math.min(...readerFrames), unit: 'frames', target: 'none dropped', met: readersClosed === 0 },
          { label: 'reading clients: samples each (min)', value: Math.min(...readerSamples), unit: 'samples' },
          { label: 'reading clients: sample age on arrival, p99 (worst client)', value: round(worstAge, 0), unit: 'ms' },
        ],
        details: {
          rate: round(rate),
          ceilingRate: round(ceiling.rate),
          feedSeconds: ctx.sizes.feedSeconds,
          statusUrl,
          clients: { readers: READERS, stalled: STALLED },
          without: without.map(runDetails),
          with: runDetails(withClients),
          rateRatio: round(rateRatio, 3),
          cpuRatio: round(withClients.cpuUsPerMessage / baseCpu, 2),
          rssIdleBeforeClientsMB: round(rssIdle / MB, 1),
          rssGrowthWithClientsMB: round(rssGrowth, 1),
          rssAfterClientsLeftMB: round(rssAfterClients / MB, 1),
          droppedClients: dropped,
          dropAfterSeconds: dropSeconds === null ? null : round(dropSeconds, 2),
          clientsLeftAtStop: got.clientsAtStop,
          statusPolls: got.polls,
          statusPollErrors: got.pollErrors,
          readers: got.readers.map((r) => ({ ...r, bytesMB: round(r.bytes / MB, 2), ageMs: { p50: r.ageMs.p50, p99: r.ageMs.p99, max: r.ageMs.max, count: r.ageMs.count } })),
          stalled: got.stalled,
          // [s since the clients connected, heap used MB, RSS MB] as /api/status reported them, 2 a second
          serverMemoryWithClients: got.memory.filter((_, i) => i % 5 === 0).map(([ms, heap, rss]) => [round(ms / 1000, 1), heap, rss]),
          clientsWorkerCpuMs: round(got.cpuMs),
          clientsWorkerWallMs: round(got.wallMs),
        },
        ...(ctx.quick && dropped < STALLED ? { notes: [`the stalled client was not dropped within ${ctx.sizes.feedSeconds} s: its socket buffers (~4 MB in the kernel, then 1 MB in the server) take ~10 s to fill; the full run shows the drop`] } : {}),
      }
    } finally {
      clients.close()
      await server.close()
    }
  },
}
