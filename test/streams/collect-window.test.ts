import test from 'ava'
import { merge, NEVER } from 'rxjs'
import { collectWindow } from '../../src/streams/collect-window.js'
import { marbles } from '../helpers/marbles.js'

const append = (acc: string[], x: string): string[] => [...acc, x]
const seed = (): string[] => []

test('collectWindow stops when the duration ends', (t) => {
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, scheduler) => {
    const source = hot('  --a--b--c--d--')
    const expected = '    -------(r|)'
    const subs = '        ^------!'
    const r = { state: ['a', 'b'], count: 2, stoppedBy: 'duration', startedAt: 0, endedAt: 7 }
    expectObservable(source.pipe(collectWindow({ durationMs: 7, limit: 10 }, append, seed, scheduler))).toBe(expected, { r })
    expectSubscriptions(source.subscriptions).toBe(subs)
  })
})

test('collectWindow stops at the limit before the window closes', (t) => {
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, scheduler) => {
    const source = hot('  --a--b--c--d--')
    const expected = '    -----(r|)'
    const subs = '        ^----!'
    const r = { state: ['a', 'b'], count: 2, stoppedBy: 'limit', startedAt: 0, endedAt: 5 }
    expectObservable(source.pipe(collectWindow({ durationMs: 100, limit: 2 }, append, seed, scheduler))).toBe(expected, { r })
    expectSubscriptions(source.subscriptions).toBe(subs)
  })
})

test('collectWindow stops at once when the signal aborts, keeping what it gathered', (t) => {
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, scheduler) => {
    const source = hot('  --a--b--c--d--')
    const controller = new AbortController()
    scheduler.schedule(() => controller.abort(), 4)
    const r = { state: ['a'], count: 1, stoppedBy: 'cancelled', startedAt: 0, endedAt: 4 }
    expectObservable(source.pipe(collectWindow({ durationMs: 100, limit: 10, signal: controller.signal }, append, seed, scheduler))).toBe('----(r|)', { r })
    expectSubscriptions(source.subscriptions).toBe('^---!')
  })
})

test('collectWindow on an already aborted signal ends empty at once', (t) => {
  marbles(t, ({ hot, expectObservable }, scheduler) => {
    const controller = new AbortController()
    controller.abort()
    const r = { state: [], count: 0, stoppedBy: 'cancelled', startedAt: 0, endedAt: 0 }
    expectObservable(hot('--a').pipe(collectWindow({ durationMs: 100, limit: 10, signal: controller.signal }, append, seed, scheduler))).toBe('(r|)', { r })
  })
})

test('collectWindow reports closed when the session ends the source', (t) => {
  marbles(t, ({ cold, expectObservable }, scheduler) => {
    const source = cold('--a--|')
    const r = { state: ['a'], count: 1, stoppedBy: 'closed', startedAt: 0, endedAt: 5 }
    expectObservable(source.pipe(collectWindow({ durationMs: 100, limit: 10 }, append, seed, scheduler))).toBe('-----(r|)', { r })
  })
})

test('a quiet window gives the seed, not an error', (t) => {
  marbles(t, ({ expectObservable }, scheduler) => {
    const r = { state: [], count: 0, stoppedBy: 'duration', startedAt: 0, endedAt: 30 }
    expectObservable(NEVER.pipe(collectWindow({ durationMs: 30, limit: 10 }, append, seed, scheduler))).toBe('30ms (r|)', { r })
  })
})

test('two overlapping windows on one source each get their own complete copy', (t) => {
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, scheduler) => {
    const source = hot('  --a--b--c--d--e--')
    const w1 = source.pipe(collectWindow({ durationMs: 9, limit: 10 }, append, seed, scheduler))
    const w2 = source.pipe(collectWindow({ durationMs: 100, limit: 3 }, append, seed, scheduler))
    expectObservable(merge(w1, w2)).toBe('--------x(y|)', {
      x: { state: ['a', 'b', 'c'], count: 3, stoppedBy: 'limit', startedAt: 0, endedAt: 8 },
      y: { state: ['a', 'b', 'c'], count: 3, stoppedBy: 'duration', startedAt: 0, endedAt: 9 },
    })
    expectSubscriptions(source.subscriptions).toBe(['^--------!', '^-------!'])
  })
})

test('a long window in time progression syntax unsubscribes from the source when it ends', (t) => {
  marbles(t, ({ hot, expectObservable, expectSubscriptions }, scheduler) => {
    const source = hot('  a 29999ms b 29999ms c')
    const r = { state: ['a', 'b'], count: 2, stoppedBy: 'duration', startedAt: 0, endedAt: 30_001 }
    expectObservable(source.pipe(collectWindow({ durationMs: 30_001, limit: 100 }, append, seed, scheduler))).toBe('30001ms (r|)', { r })
    expectSubscriptions(source.subscriptions).toBe('^ 30000ms !')
  })
})

test('an error of the source (SUBACK failure) passes through', (t) => {
  marbles(t, ({ cold, expectObservable }, scheduler) => {
    const e = { _tag: 'SubscribeRejected' }
    expectObservable(cold('-a-#', undefined, e).pipe(collectWindow({ durationMs: 10, limit: 10 }, append, seed, scheduler))).toBe('---#', undefined, e)
  })
})
