/**
 * Message rates for the status API and the feed's stats frames: once a period it reads every open session's
 * message counter and turns the difference into messages per second. Counters of closed sessions are kept
 * in the total, so `received_total` never goes backwards.
 *
 *   interval(1 s) ──read counters──▶ snapshot { total_per_second, sessions[] } ──▶ ticks$
 */
import { interval, Subject, type Observable, type SchedulerLike, type Subscription } from 'rxjs'
import type { SessionRegistry } from '../sessions/registry.js'
import type { SessionState } from '../sessions/session.js'

/** One session's figures at a tick. */
export interface SessionRate {
  readonly session_id: string
  readonly state: SessionState
  readonly messages_received: number
  readonly messages_per_second: number
}

/** The figures of one tick; `at` is ISO time. */
export interface RateSnapshot {
  readonly at: string
  readonly total_per_second: number
  readonly sessions: readonly SessionRate[]
}

export interface RateMeter {
  /** The last tick's figures (all zero before the first tick). */
  readonly latest: () => RateSnapshot
  /** Messages received since start, closed sessions included. */
  readonly receivedTotal: () => number
  /** Every tick. */
  readonly ticks$: Observable<RateSnapshot>
  /** Stops the timer and the registry subscription. */
  readonly stop: () => void
}

const round1 = (n: number): number => Math.round(n * 10) / 10

/** A meter ticking every `periodMs` (default 1000) on `scheduler`. */
export function createRateMeter(registry: SessionRegistry, scheduler: SchedulerLike, periodMs = 1000): RateMeter {
  const previous = new Map<string, number>()
  const ticks = new Subject<RateSnapshot>()
  let closedTotal = 0
  let lastTickAt = scheduler.now()
  let latest: RateSnapshot = { at: new Date(lastTickAt).toISOString(), total_per_second: 0, sessions: [] }
  for (const s of registry.list()) previous.set(s.id, s.messagesReceived)

  const subs: Subscription[] = [
    registry.events$.subscribe((e) => {
      if (e.type !== 'closed') return
      closedTotal += e.session.messagesReceived
      previous.delete(e.session.id)
    }),
    interval(periodMs, scheduler).subscribe(() => {
      const now = scheduler.now()
      const sessions = registry.list().map((s): SessionRate => {
        // a session opened during this period counts from its opening
        const since = Math.max(lastTickAt, s.createdAt)
        const before = previous.get(s.id) ?? 0
        const seconds = Math.max(0.001, (now - since) / 1000)
        previous.set(s.id, s.messagesReceived)
        return { session_id: s.id, state: s.state, messages_received: s.messagesReceived, messages_per_second: round1((s.messagesReceived - before) / seconds) }
      })
      lastTickAt = now
      latest = { at: new Date(now).toISOString(), total_per_second: round1(sessions.reduce((sum, s) => sum + s.messages_per_second, 0)), sessions }
      ticks.next(latest)
    }),
  ]

  return {
    latest: () => latest,
    receivedTotal: () => closedTotal + registry.list().reduce((sum, s) => sum + s.messagesReceived, 0),
    ticks$: ticks,
    stop: () => {
      for (const s of subs) s.unsubscribe()
      ticks.complete()
    },
  }
}
