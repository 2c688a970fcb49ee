import type { ExecutionContext } from 'ava'
import { TestScheduler } from 'rxjs/testing'

type Helpers = Parameters<Parameters<TestScheduler['run']>[0]>[0]

/** Runs `body` in virtual time with a TestScheduler whose assertions report through ava's deepEqual. */
export function marbles(t: ExecutionContext, body: (helpers: Helpers, scheduler: TestScheduler) => void): void {
  const scheduler = new TestScheduler((actual, expected) => t.deepEqual(actual, expected))
  scheduler.run((helpers) => body(helpers, scheduler))
}
