import test from 'ava'
import { EMPTY, Subject, type Observable } from 'rxjs'
import type { AppError } from '../../src/errors.js'
import { subscribeRejected } from '../../src/errors.js'
import { createSubscriptionTable, type BrokerSubscriber } from '../../src/streams/subscriptions.js'
import type { Message, QoS } from '../../src/streams/types.js'
import { marbles } from '../helpers/marbles.js'

const msg = (topic: string): Message => ({ topic, payload: Buffer.from(topic), qos: 0, retain: false, receivedAt: 0 })
const a = msg('a/1')
const b = msg('b/1')
const c = msg('a/2')

/** A broker whose SUBSCRIBE/UNSUBSCRIBE calls are recorded with their virtual time. */
function recordingBroker(now: () => number, suback: () => Observable<QoS>): BrokerSubscriber & { calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    subscribe: (filter, qos) => {
      calls.push(`${now()} SUBSCRIBE ${filter} ${qos}`)
      return suback()
    },
    unsubscribe: (filter) => {
      calls.push(`${now()} UNSUBSCRIBE ${filter}`)
      return suback() as unknown as Observable<void>
    },
  }
}

test('subscribe sends one SUBSCRIBE for two subscribers and UNSUBSCRIBE after the last leaves', (t) => {
  marbles(t, ({ hot, cold, expectObservable, expectSubscriptions }, scheduler) => {
    const messages = hot('  --a--b--c--a--c--|', { a, b, c })
    const first = '        ^--------!'
    const second = '        ----^---------!'
    const broker = recordingBroker(() => scheduler.now(), () => cold('-(g|)', { g: 0 as QoS }))
    const table = createSubscriptionTable(messages, broker)
    expectObservable(table.subscribe('a/+'), first).toBe('--a-----c', { a, c })
    expectObservable(table.subscribe('a/+'), second).toBe('--------c--a--', { a, c })
    // one listener on the session's stream for the whole table, from the first subscriber to the last
    expectSubscriptions(messages.subscriptions).toBe(['^-------------!'])
    scheduler.flush()
    t.deepEqual(broker.calls, ['0 SUBSCRIBE a/+ 0', '14 UNSUBSCRIBE a/+'])
  })
})

test('several filters share one listener on the session stream; each subscriber gets what its filter matches', (t) => {
  marbles(t, ({ hot, cold, expectObservable, expectSubscriptions }) => {
    const messages = hot('  --a--b--c--a--c--|', { a, b, c })
    const broker = recordingBroker(() => 0, () => cold('-(g|)', { g: 0 as QoS }))
    const table = createSubscriptionTable(messages, broker)
    expectObservable(table.subscribe('a/+'), '^-----------!').toBe('--a-----c--a', { a, c })
    expectObservable(table.subscribe('b/#'), '^---------------!').toBe('-----b', { b })
    expectObservable(table.subscribe('#'), '------^--!').toBe('--------c', { c })
    expectObservable(table.subscribe('a/2'), '^-------------------').toBe('--------c-----c--', { c })
    expectSubscriptions(messages.subscriptions).toBe(['^----------------!'])
  })
})

test('a subscriber that joins during a delivery gets the next message, not that one', (t) => {
  const source = new Subject<Message>()
  const table = createSubscriptionTable(source, { subscribe: () => EMPTY, unsubscribe: () => EMPTY })
  const late: Message[] = []
  const early: Message[] = []
  table.subscribe('a/+').subscribe((m) => {
    early.push(m)
    if (late.length === 0 && early.length === 1) table.subscribe('a/#').subscribe((x) => late.push(x))
  })
  source.next(a)
  source.next(c)
  t.deepEqual(early, [a, c])
  t.deepEqual(late, [c])
})

test('subscribe reports the granted QoS to every subscriber', (t) => {
  marbles(t, ({ hot, cold }, scheduler) => {
    const broker = recordingBroker(() => scheduler.now(), () => cold('---(g|)', { g: 1 as QoS }))
    const table = createSubscriptionTable(hot('-'), broker)
    const granted: string[] = []
    table.subscribe('x/#', 1, (q) => granted.push(`first ${q} at ${scheduler.now()}`)).subscribe()
    scheduler.schedule(() => {
      table.subscribe('x/#', 1, (q) => granted.push(`second ${q} at ${scheduler.now()}`)).subscribe()
    }, 5)
    scheduler.flush()
    t.deepEqual(granted, ['first 1 at 3', 'second 1 at 5'])
    t.deepEqual(table.list(), [{ filter: 'x/#', qos: 1, granted: 1, refs: 2 }])
  })
})

test('a SUBACK failure errors every subscriber of that filter and forgets it', (t) => {
  marbles(t, ({ hot, cold, expectObservable }, scheduler) => {
    const rejected: AppError = subscribeRejected({ message: 'no', filter: 'secret/#', reasonCode: 135 })
    const broker = recordingBroker(() => scheduler.now(), () => cold('--#', undefined, rejected))
    const table = createSubscriptionTable(hot('-'), broker)
    expectObservable(table.subscribe('secret/#')).toBe('--#', undefined, rejected)
    expectObservable(table.subscribe('secret/#')).toBe('--#', undefined, rejected)
    scheduler.flush()
    t.deepEqual(table.list(), [])
    t.deepEqual(broker.calls, ['0 SUBSCRIBE secret/# 0'])
  })
})

test('a higher QoS on a filter in use sends SUBSCRIBE again', (t) => {
  marbles(t, ({ hot, cold }, scheduler) => {
    const broker = recordingBroker(() => scheduler.now(), () => cold('(g|)', { g: 0 as QoS }))
    const table = createSubscriptionTable(hot('-'), broker)
    table.subscribe('s/#', 0).subscribe()
    scheduler.schedule(() => table.subscribe('s/#', 1).subscribe(), 2)
    scheduler.schedule(() => table.subscribe('s/#', 0).subscribe(), 4)
    scheduler.flush()
    t.deepEqual(broker.calls, ['0 SUBSCRIBE s/# 0', '2 SUBSCRIBE s/# 1'])
  })
})

test('restore sends SUBSCRIBE again for every filter in use', (t) => {
  marbles(t, ({ hot, cold }, scheduler) => {
    const broker = recordingBroker(() => scheduler.now(), () => cold('(g|)', { g: 0 as QoS }))
    const table = createSubscriptionTable(hot('-'), broker)
    table.subscribe('a/#').subscribe()
    table.subscribe('b/#', 1).subscribe()
    const gone = table.subscribe('c/#').subscribe()
    scheduler.schedule(() => gone.unsubscribe(), 1)
    scheduler.schedule(() => table.restore(), 3)
    scheduler.flush()
    t.deepEqual(broker.calls, ['0 SUBSCRIBE a/# 0', '0 SUBSCRIBE b/# 1', '0 SUBSCRIBE c/# 0', '1 UNSUBSCRIBE c/#', '3 SUBSCRIBE a/# 0', '3 SUBSCRIBE b/# 1'])
  })
})

test('completeAll ends every subscriber without sending UNSUBSCRIBE', (t) => {
  marbles(t, ({ hot, cold, expectObservable }, scheduler) => {
    const messages = hot('--a--a--a', { a })
    const broker = recordingBroker(() => scheduler.now(), () => cold('(g|)', { g: 0 as QoS }))
    const table = createSubscriptionTable(messages, broker)
    expectObservable(table.subscribe('a/#')).toBe('--a--|', { a })
    expectObservable(table.subscribe('#')).toBe('--a--|', { a })
    scheduler.schedule(() => table.completeAll(), 5)
    scheduler.flush()
    t.deepEqual(broker.calls, ['0 SUBSCRIBE a/# 0', '0 SUBSCRIBE # 0'])
  })
})

test('replayRetained sends SUBSCRIBE again for a filter already held', (t) => {
  marbles(t, ({ hot, cold }, scheduler) => {
    const broker = recordingBroker(() => scheduler.now(), () => cold('(g|)', { g: 0 as QoS }))
    const table = createSubscriptionTable(hot('-'), broker)
    table.subscribe('r/#').subscribe()
    scheduler.schedule(() => table.subscribe('r/#', 0, undefined, { replayRetained: true }).subscribe(), 2)
    scheduler.schedule(() => table.subscribe('r/#').subscribe(), 4)
    scheduler.flush()
    t.deepEqual(broker.calls, ['0 SUBSCRIBE r/# 0', '2 SUBSCRIBE r/# 0'])
  })
})
