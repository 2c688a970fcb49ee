/** Worker: a plain mqtt.js subscriber that counts (see bench/baseline.ts). Says `ready` after SUBACK. */
import { subscribeAndCount, type SubscribeSpec } from '../baseline.js'
import { runWorker } from './worker.js'

let stop: (() => void) | undefined
process.on('message', (m: { type?: string }) => {
  if (m.type === 'stop') stop?.()
})

runWorker<{ type: 'run'; spec: SubscribeSpec }>(async (m) => ({
  type: 'done',
  result: await subscribeAndCount(m.spec, (s) => {
    stop = s
    process.send?.({ type: 'ready' })
  }),
}))
