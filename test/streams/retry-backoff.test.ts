import test from 'ava'
import { defer } from 'rxjs'
import { backoffDelay, retryBackoff } from '../../src/streams/retry-backoff.js'
import { marbles } from '../helpers/marbles.js'

const policy = { baseMs: 10, capMs: 40, jitter: 0 }
const transient = { _tag: 'ConnectionLost' }
const fatal = { _tag: 'AuthenticationFailed' }
const isRetryable = (e: { _tag: string }) => e._tag !== 'AuthenticationFailed'

test('backoffDelay doubles from the base and stops at the cap', (t) => {
  const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 0))
  t.deepEqual(delays, [10, 20, 40, 40, 40, 40])
})

test('backoffDelay takes at most the jitter fraction off each delay', (t) => {
  const p = { baseMs: 1000, capMs: 30_000, jitter: 0.5 }
  t.is(backoffDelay(1, p, () => 0), 1000)
  t.is(backoffDelay(1, p, () => 0.999999), 500)
  t.is(backoffDelay(10, p, () => 0.5), 22_500)
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(1 + (i % 40), p, Math.random)
    t.true(d >= 500 && d <= 30_000)
  }
})

test('retryBackoff waits base, 2×base, then the cap between transient failures', (t) => {
  marbles(t, ({ cold, expectObservable, expectSubscriptions }, scheduler) => {
    const source = cold('-#', undefined, transient)
    const result = source.pipe(retryBackoff({ policy, isRetryable, scheduler }))
    // attempts at 0, 1+10, 12+20, 33+40, 74+40 …
    expectObservable(result, '^ 150ms !').toBe('')
    expectSubscriptions(source.subscriptions).toBe([
      '^!',
      '11ms ^!',
      '32ms ^!',
      '73ms ^!',
      '114ms ^!',
    ])
  })
})

test('retryBackoff applies the injected jitter', (t) => {
  marbles(t, ({ cold }, scheduler) => {
    const source = cold('#', undefined, transient)
    const jittered = { baseMs: 100, capMs: 1000, jitter: 0.5 }
    const sub = source.pipe(retryBackoff({ policy: jittered, isRetryable, scheduler, random: () => 1 })).subscribe()
    scheduler.schedule(() => sub.unsubscribe(), 400)
    scheduler.flush()
    // random 1 takes half of each delay off: 50, 100, 200 …
    t.deepEqual(source.subscriptions.slice(0, 4).map((s) => s.subscribedFrame), [0, 50, 150, 350])
  })
})

test('retryBackoff resets the delay after the source emits', (t) => {
  marbles(t, ({ cold, expectObservable, expectSubscriptions }, scheduler) => {
    // fails twice (waits 10, 20), connects (a) and is lost 3 ms later: the next wait is the base again
    const attempts = [cold('#', undefined, transient), cold('#', undefined, transient), cold('a--#', undefined, transient), cold('-b')]
    let n = 0
    const source = defer(() => attempts[n++]!)
    expectObservable(source.pipe(retryBackoff({ policy, isRetryable, scheduler }))).toBe('30ms a 13ms b')
    expectSubscriptions(attempts[2]!.subscriptions).toBe('30ms ^--!')
    expectSubscriptions(attempts[3]!.subscriptions).toBe('43ms ^')
  })
})

test('retryBackoff passes fatal errors through without retrying', (t) => {
  marbles(t, ({ cold, expectObservable, expectSubscriptions }, scheduler) => {
    const source = cold('--#', undefined, fatal)
    expectObservable(source.pipe(retryBackoff({ policy, isRetryable, scheduler }))).toBe('--#', undefined, fatal)
    expectSubscriptions(source.subscriptions).toBe('^-!')
  })
})

test('retryBackoff reports each retry with its delay', (t) => {
  marbles(t, ({ cold }, scheduler) => {
    const seen: Array<[number, number]> = []
    const source = cold('#', undefined, transient)
    const sub = source.pipe(retryBackoff({ policy, isRetryable, scheduler, onRetry: (_e, n, ms) => seen.push([n, ms]) })).subscribe()
    scheduler.schedule(() => sub.unsubscribe(), 100)
    scheduler.flush()
    t.deepEqual(seen.slice(0, 4), [[1, 10], [2, 20], [3, 40], [4, 40]])
  })
})
