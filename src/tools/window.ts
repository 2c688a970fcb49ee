/** What the collecting and discovering tools share: filter validation, the window run with progress, gaps. */
import * as E from 'fp-ts/lib/Either.js'
import { distinctUntilChanged, firstValueFrom, interval, merge, tap, type Observable } from 'rxjs'
import * as err from '../errors.js'
import type { AppError } from '../errors.js'
import { validateTopicFilter } from '../mqtt/topic.js'
import type { Session } from '../sessions/session.js'
import { collectWindow, type WindowResult } from '../streams/collect-window.js'
import type { Message, QoS } from '../streams/types.js'
import type { ToolContext } from './tool.js'

/** Validates filters, naming the field (`topic`, `topics[2]`) of the first bad one. */
export function validateFilters(filters: ReadonlyArray<{ field: string; filter: string }>): E.Either<AppError, string[]> {
  for (const { field, filter } of filters) {
    const v = validateTopicFilter(filter)
    if (E.isLeft(v)) return E.left(err.invalidTopic({ message: `${field}: ${v.left}`, field, topic: filter }))
  }
  return E.right(filters.map((f) => f.filter))
}

/** Messages matching any of `filters`, each once even when several filters match it. */
export function subscribeAll(session: Session, filters: readonly string[], qos: QoS): Observable<Message> {
  // every window wants the broker's retained state, even on a filter another window already holds
  const streams = filters.map((f) => session.subscribe(f, qos, undefined, { replayRetained: true }))
  // every subscriber of a session gets the same Message object, delivered back to back: identity dedupes
  return streams.length === 1 ? streams[0]! : merge(...streams).pipe(distinctUntilChanged())
}

/** Runs one window over `source`, reporting progress each second; never throws (errors become Left). */
export async function runWindow<S>(
  ctx: ToolContext,
  source: Observable<Message>,
  opts: { durationMs: number; limit: number },
  reducer: (s: S, m: Message) => S,
  seed: () => S,
  describe: (count: number) => string,
): Promise<E.Either<AppError, WindowResult<S>>> {
  let count = 0
  // no total when the window has no real limit (discovery): clients would show a meaningless percentage
  const total = opts.limit < Number.MAX_SAFE_INTEGER ? opts.limit : undefined
  const ticker = interval(1000, ctx.scheduler).subscribe(() => ctx.progress(count, total, describe(count)))
  try {
    const result = await firstValueFrom(
      source.pipe(
        tap(() => count++),
        collectWindow({ ...opts, signal: ctx.signal }, reducer, seed, ctx.scheduler),
      ),
    )
    return E.right(result)
  } catch (e) {
    return E.left(err.fromUnknown(e))
  } finally {
    ticker.unsubscribe()
  }
}

/** The session's reconnect gaps that overlap [from, to] (ms), as ISO times. */
export function gapsBetween(session: Session, from: number, to: number): Array<{ start: string; end: string | null; error: string }> {
  return session.interruptions
    .filter((g) => g.start <= to && (g.end === undefined || g.end >= from))
    .map((g) => ({ start: new Date(g.start).toISOString(), end: g.end === undefined ? null : new Date(g.end).toISOString(), error: g.error }))
}
