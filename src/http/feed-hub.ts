/**
 * What every live feed client shares: the frames all of them get (session events, tool calls, stats),
 * serialized once, and the message source. While at least one client listens, every open session (and every
 * session opened later) is subscribed to `#` at QoS 0 without holding the session open; the last client
 * leaving (or the session closing) unsubscribes. The broker subscription is the session's ref-counted one,
 * shared with tool windows on the same filter.
 *
 *   registry.events$ ─┐
 *   toolCalls.changes$ ├─ map(frame) ─ JSON ─ share ─▶ broadcast$   (every client)
 *   meter.ticks$ ─────┘
 *   session.subscribe('#') × open sessions ──▶ listeners (sessionId, message)   (while any client listens)
 */
import { map, merge, share, type Observable, type Subscription } from 'rxjs'
import type { ToolCallLog } from '../activity.js'
import type { Logger } from '../log.js'
import type { SessionRegistry } from '../sessions/registry.js'
import type { Session } from '../sessions/session.js'
import type { Message } from '../streams/types.js'
import { toSample, type MessageSample, type ServerFrame } from './frames.js'
import type { RateMeter } from './rates.js'

/** Receives every message of every session while registered. */
export type MessageListener = (sessionId: string, m: Message) => void

export interface FeedHubDeps {
  readonly registry: SessionRegistry
  readonly toolCalls: ToolCallLog
  readonly meter: RateMeter
  readonly version: string
  readonly logger: Logger
}

export interface FeedHub {
  /** The first frame of a connection. */
  readonly hello: (filter: string) => ServerFrame
  /** session, tool_call and stats frames, serialized once for all clients. */
  readonly broadcast$: Observable<string>
  /** Adds a listener (a client); returns its removal. The first one starts the `#` subscriptions, the last one ends them. */
  readonly listen: (l: MessageListener) => () => void
  /** The sample of a message, built once however many clients show it. */
  readonly sample: (sessionId: string, m: Message) => MessageSample
  /** Counts one client closed for falling behind. */
  readonly noteDropped: () => void
  readonly counts: () => { clients: number; dropped_clients: number }
  /** Ends every subscription (server closing). */
  readonly close: () => void
}

/** Calls shown in the hello frame. */
export const HELLO_CALLS = 50

/** A hub over the registry, the tool call log and the rate meter; nothing is subscribed until the first listener. */
export function createFeedHub(deps: FeedHubDeps): FeedHub {
  const { registry, toolCalls, meter, logger } = deps
  const listeners = new Set<MessageListener>()
  const watching = new Map<string, Subscription>()
  const samples = new WeakMap<Message, MessageSample>()
  let lifecycle: Subscription | undefined
  let dropped = 0

  const info = (s: Session) => s.info(registry.ttlMs)

  const broadcast$ = merge(
    registry.events$.pipe(map((e): ServerFrame => ({ type: 'session', event: e.type, session: info(e.session) }))),
    toolCalls.changes$.pipe(map((call): ServerFrame => ({ type: 'tool_call', call }))),
    meter.ticks$.pipe(map((snapshot): ServerFrame => ({ type: 'stats', ...snapshot }))),
  ).pipe(
    // serialized at once: a tool call record is updated in place when the call finishes
    map((frame) => JSON.stringify(frame)),
    share(),
  )

  const watch = (s: Session): void => {
    if (watching.has(s.id) || s.state === 'closed') return
    // holdsSession false: an open status page never keeps a session from expiring
    const sub = s.subscribe('#', 0, undefined, { holdsSession: false }).subscribe({
      next: (m) => {
        for (const l of listeners) l(s.id, m)
      },
      error: (e: { message?: string }) => {
        watching.delete(s.id)
        logger.warn('live feed: the broker refused the # subscription', { session: s.id, error: e.message ?? String(e) })
      },
      complete: () => watching.delete(s.id),
    })
    if (!sub.closed) watching.set(s.id, sub)
  }
  const unwatch = (id: string): void => {
    watching.get(id)?.unsubscribe()
    watching.delete(id)
  }

  const start = (): void => {
    lifecycle = registry.events$.subscribe((e) => {
      if (e.type === 'opened') watch(e.session)
      else if (e.type === 'closed') unwatch(e.session.id)
    })
    for (const s of registry.list()) watch(s)
  }
  const stop = (): void => {
    lifecycle?.unsubscribe()
    lifecycle = undefined
    for (const id of [...watching.keys()]) unwatch(id)
  }

  return {
    hello: (filter) => ({
      type: 'hello',
      version: deps.version,
      sessions: registry.list().map(info),
      calls: toolCalls.recent(HELLO_CALLS),
      filter,
    }),
    broadcast$,
    listen: (l) => {
      listeners.add(l)
      if (listeners.size === 1) start()
      return () => {
        if (!listeners.delete(l)) return
        if (listeners.size === 0) stop()
      }
    },
    sample: (sessionId, m) => {
      let s = samples.get(m)
      if (s === undefined) {
        s = toSample(sessionId, m)
        samples.set(m, s)
      }
      return s
    },
    noteDropped: () => {
      dropped++
    },
    counts: () => ({ clients: listeners.size, dropped_clients: dropped }),
    close: () => {
      listeners.clear()
      stop()
    },
  }
}
