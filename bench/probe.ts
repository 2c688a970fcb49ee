/**
 * Latency probes: `tools/list` and a QoS 0 `mqtt_publish_message`, one after the other with a pause between,
 * for as long as they run. Their round trips stand in for the server's event-loop delay, which cannot be seen
 * from outside: a reply waits behind whatever the loop is doing.
 */
import { sleep } from './children.js'
import type { BenchServer } from './server.js'

export interface ProbeSamples {
  readonly toolsList: number[]
  readonly publish: number[]
  readonly ping: number[]
}

export interface Probes {
  /** Stops after the probe in flight; resolves with every round trip in ms. */
  stop(): Promise<ProbeSamples>
}

/** Starts probing; `sessionId` enables the publish probe (topic bench-probe/rpc, outside every bench filter). */
export function startProbes(server: BenchServer, opts: { sessionId?: string; pauseMs: number }): Probes {
  const samples: ProbeSamples = { toolsList: [], publish: [], ping: [] }
  let running = true
  const loop = (async () => {
    while (running) {
      samples.toolsList.push(await server.listToolsMs())
      await sleep(opts.pauseMs)
      if (!running || opts.sessionId === undefined) continue
      const r = await server.ok('mqtt_publish_message', { session_id: opts.sessionId, topic: 'bench-probe/rpc', payload: 'ping', qos: 0 })
      samples.publish.push(r.ms)
      await sleep(opts.pauseMs)
    }
  })()
  loop.catch(() => undefined) // a failed probe surfaces in stop()
  return {
    stop: async () => {
      running = false
      await loop
      return samples
    },
  }
}

/** `n` probes of each kind (and `ping`, the floor) back to back, with the pause, on an idle server. */
export async function probeIdle(server: BenchServer, sessionId: string, n: number, pauseMs = 10): Promise<ProbeSamples> {
  const samples: ProbeSamples = { toolsList: [], publish: [], ping: [] }
  for (let i = 0; i < n; i++) {
    samples.ping.push(await server.pingMs())
    await sleep(pauseMs)
    samples.toolsList.push(await server.listToolsMs())
    await sleep(pauseMs)
    samples.publish.push((await server.ok('mqtt_publish_message', { session_id: sessionId, topic: 'bench-probe/rpc', payload: 'ping', qos: 0 })).ms)
    await sleep(pauseMs)
  }
  return samples
}
