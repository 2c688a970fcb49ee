/** Worker: publishes one LoadSpec and reports its LoadResult over IPC (see bench/load.ts). */
import { publishLoad, type LoadSpec } from '../load.js'
import { runWorker } from './worker.js'

runWorker<{ type: 'run'; spec: LoadSpec }>(async (m) => ({ type: 'done', result: await publishLoad(m.spec) }))
