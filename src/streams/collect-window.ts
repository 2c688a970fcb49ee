/**
 * A bounded collection window: reduces messages until the duration ends, the limit is reached, the caller
 * aborts, or the source completes (session closed), and says which. A quiet window reduces to the seed.
 *
 *   source:    --a--b--c--d--|
 *   window 7:  --a--b-|                 stoppedBy 'duration' (takeUntil timer)
 *   limit 2:   --a--b|                  stoppedBy 'limit'    (take)
 *   abort at 4:--a-|                    stoppedBy 'cancelled'
 *   result:    emits one { state, count, stoppedBy } when the window ends
 */
import {
  asyncScheduler,
  defer,
  EMPTY,
  fromEvent,
  map,
  merge,
  of,
  reduce,
  take,
  takeUntil,
  tap,
  timer,
  type Observable,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs'

export type StopReason = 'duration' | 'limit' | 'cancelled' | 'closed'

export interface WindowOptions {
  /** How long the window stays open, in ms. */
  readonly durationMs: number
  /** Most items to take; the window ends at the limit-th item. */
  readonly limit: number
  /** Ends the window early with stoppedBy 'cancelled'. */
  readonly signal?: AbortSignal
}

export interface WindowResult<S> {
  readonly state: S
  /** Items taken into the window. */
  readonly count: number
  readonly stoppedBy: StopReason
  /** Scheduler time the window opened and closed, in ms. */
  readonly startedAt: number
  readonly endedAt: number
}

const aborted = (signal: AbortSignal | undefined): Observable<unknown> =>
  signal === undefined ? EMPTY : signal.aborted ? of(true) : fromEvent(signal, 'abort')

/** Collects a window of the source into `reducer`'s state; emits exactly one WindowResult. */
export function collectWindow<T, S>(
  opts: WindowOptions,
  reducer: (state: S, item: T) => S,
  seed: () => S,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, WindowResult<S>> {
  return (source) =>
    defer(() => {
      let stoppedBy: StopReason | undefined
      let count = 0
      const startedAt = scheduler.now()
      const stop$ = merge(
        timer(opts.durationMs, scheduler).pipe(map((): StopReason => 'duration')),
        aborted(opts.signal).pipe(map((): StopReason => 'cancelled')),
      ).pipe(
        take(1),
        tap((reason) => (stoppedBy ??= reason)),
      )
      return source.pipe(
        // a source that completes by itself is a session that closed
        tap({ complete: () => (stoppedBy ??= 'closed') }),
        takeUntil(stop$),
        take(opts.limit),
        tap(() => {
          if (++count === opts.limit) stoppedBy ??= 'limit'
        }),
        reduce(reducer, seed()),
        map((state) => ({ state, count, stoppedBy: stoppedBy ?? 'duration', startedAt, endedAt: scheduler.now() })),
      )
    })
}
