/**
 * Reconnection policy as configuration of rxjs `retry`: exponential delay with jitter and a cap, the count
 * reset by every success, and fatal errors passed straight through.
 *
 *   source:   --#            --#              --a--#        (each # a transient failure)
 *   delays:      |--1s--|       |----2s----|       |--1s--|  (reset after a)
 */
import { asyncScheduler, retry, throwError, timer, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs'

export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  readonly baseMs: number
  /** Largest delay, in ms. */
  readonly capMs: number
  /** Fraction of each delay that is random, 0..1 (0.5: between half and the full delay). */
  readonly jitter: number
}

export const defaultBackoff: BackoffPolicy = { baseMs: 1000, capMs: 30_000, jitter: 0.5 }

/** The delay before retry number `attempt` (1-based), in ms: min(cap, base·2^(attempt−1)) with jitter taken off. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt - 1, 30))
  return Math.round(exp * (1 - policy.jitter * random()))
}

export interface RetryBackoffOptions<E> {
  readonly policy?: BackoffPolicy
  /** Errors for which this returns false are rethrown at once. */
  readonly isRetryable: (e: E) => boolean
  readonly random?: () => number
  readonly scheduler?: SchedulerLike
  /** Called before each wait, with the error, the retry number and the delay in ms. */
  readonly onRetry?: (e: E, attempt: number, delayMs: number) => void
}

/** Resubscribes to the source after transient errors, waiting an exponentially growing, jittered delay. */
export function retryBackoff<T, E = unknown>(opts: RetryBackoffOptions<E>): MonoTypeOperatorFunction<T> {
  const policy = opts.policy ?? defaultBackoff
  const random = opts.random ?? Math.random
  const scheduler = opts.scheduler ?? asyncScheduler
  return retry<T>({
    resetOnSuccess: true,
    delay: (e: E, attempt: number) => {
      if (!opts.isRetryable(e)) return throwError(() => e)
      const ms = backoffDelay(attempt, policy, random)
      opts.onRetry?.(e, attempt, ms)
      return timer(ms, scheduler)
    },
  })
}
