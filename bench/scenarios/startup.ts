/**
 * startup: from spawning `node dist/main.js` to the answer to `initialize` over stdio (the SDK Client's connect),
 * median of 10 (quick: 5), against spawning `node -e 0` to its exit. One unmeasured run of each warms the
 * file cache first (of the server only in the full run: earlier scenarios started it anyway).
 */
import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { track, untrack } from '../children.js'
import type { Scenario } from '../scenario.js'
import { BenchServer, MB } from '../server.js'
import { median, round } from '../stats.js'

function bareNodeMs(): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' })
    track(child.pid)
    child.once('error', reject)
    child.once('exit', () => {
      untrack(child.pid)
      resolve(performance.now() - started)
    })
  })
}

export const startup: Scenario = {
  name: 'startup',
  what: 'spawn to initialize answered over stdio, median, vs a bare `node -e 0`',
  run: async (ctx) => {
    const runs = ctx.sizes.startupRuns
    await bareNodeMs()
    const bare: number[] = []
    for (let i = 0; i < runs; i++) bare.push(await bareNodeMs())
    // never under --cpu-prof: the profiler slows start-up down
    const server: number[] = []
    const rss: number[] = []
    for (let i = ctx.quick ? 0 : -1; i < runs; i++) {
      const s = await BenchServer.start()
      try {
        if (i >= 0) {
          server.push(s.startupMs)
          rss.push(s.rssBytes())
        }
      } finally {
        await s.close()
      }
    }
    const serverMedian = median(server)
    const bareMedian = median(bare)
    const ratio = serverMedian / bareMedian
    return {
      figures: [
        { label: 'spawn → initialize answered, median', value: round(serverMedian, 0), unit: 'ms', ratio: round(ratio, 2), ratioTo: 'bare node', target: '≤ 300 ms', met: serverMedian <= 300 },
        { label: 'bare `node -e 0`, median', value: round(bareMedian, 0), unit: 'ms' },
        { label: 'server start ÷ bare node start', value: round(ratio, 2), unit: '×', target: '≤ 3×', met: ratio <= 3 },
      ],
      details: { runs, serverMs: server.map((x) => round(x, 1)), bareMs: bare.map((x) => round(x, 1)), rssAtInitializeMB: rss.map((x) => round(x / MB, 1)) },
    }
  },
}
