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
 *
 * Messages reach clients through channels (createFeedChannels), one per filter in use: clients on the same
 * filter share its coalescing and its serialized `messages` frame, so a message costs the same however many
 * clients watch it. (Coalescing per client, the bench's feed scenario measured about 3 µs more server CPU per
 * message for every further client at 10,000 msg/s, and the heap's peaks grew with the number of clients.)
 */
import { interval, map, merge, share, type Observable, type SchedulerLike, type Subscription } from 'rxjs'
import type { ToolCallLog } from '../activity.js'
import type { Logger } from '../log.js'
import { topicMatches } from '../mqtt/topic.js'
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
  /** Adds a listener (the feed's channels); returns its removal. The first one starts the `#` subscriptions, the last one ends them. */
  readonly listen: (l: MessageListener) => () => void
  /** Counts one connected client; returns its removal (idempotent). */
  readonly addClient: () => () => void
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
  let clients = 0

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
    addClient: () => {
      clients++
      let counted = true
      return () => {
        if (counted) clients--
        counted = false
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
    counts: () => ({ clients, dropped_clients: dropped }),
    close: () => {
      listeners.clear()
      stop()
    },
  }
}

// -------------------------------------------------------------------------------------
// channels
// -------------------------------------------------------------------------------------

/** How a channel coalesces. */
export interface FlushLimits {
  /** Period of the `messages` frames, in ms (100: at most 10 a second). */
  readonly flushMs: number
  /** Topics in one `messages` frame at most; further new topics wait for a later flush (dropped meanwhile). */
  readonly maxTopicsPerFlush: number
}

/** Coalesced `messages` frames, one channel per filter, shared by every client on that filter. */
export interface FeedChannels {
  /**
   * Joins the channel of `filter` (opened by its first member): `receive` gets the channel's serialized
   * `messages` frame every flush period that had messages. A channel opened for a client leaving `carryFrom`
   * starts with what that channel holds and `filter` matches. Returns the leave function.
   */
  readonly join: (filter: string, receive: (frame: string) => void, carryFrom?: string) => () => void
  /** Channels open now (one per filter in use). */
  readonly size: () => number
  /** Closes every channel (server closing). */
  readonly close: () => void
}

interface Channel {
  readonly filter: string
  /** The latest message per session and topic since the last flush; the key is `${sessionId}\u0000${topic}`. */
  readonly pending: Map<string, readonly [string, Message]>
  readonly members: Set<(frame: string) => void>
  readonly timer: Subscription
}

/**
 * Channels over the hub's messages: each keeps the latest message per topic (at most `maxTopicsPerFlush`
 * topics) and, every `flushMs`, serializes one frame for all its members. The hub is listened to while any
 * channel is open.
 *
 *   messages  ─a─a─b─a─c─a────a─b─│
 *   flush     ─────────┬─────────┬─   every flushMs
 *   frames    ─────────{a,b,c}───{a,b}   (one string, sent to every member)
 */
export function createFeedChannels(hub: Pick<FeedHub, 'listen' | 'sample'>, scheduler: SchedulerLike, limits: FlushLimits): FeedChannels {
  const channels = new Map<string, Channel>()
  let unlisten: (() => void) | undefined

  const offer = (sessionId: string, m: Message): void => {
    let key: string | undefined
    for (const c of channels.values()) {
      if (!topicMatches(c.filter, m.topic)) continue
      // U+0000 cannot occur in a topic, so the key is unambiguous
      key ??= `${sessionId}\u0000${m.topic}`
      if (c.pending.size >= limits.maxTopicsPerFlush && !c.pending.has(key)) continue
      c.pending.set(key, [sessionId, m])
    }
  }

  const flush = (c: Channel): void => {
    if (c.pending.size === 0) return
    const samples = [...c.pending.values()].map(([sessionId, m]) => hub.sample(sessionId, m))
    c.pending.clear()
    const frame: ServerFrame = { type: 'messages', samples }
    const text = JSON.stringify(frame)
    // a member that falls behind leaves while it is sent to
    for (const receive of [...c.members]) receive(text)
  }

  const remove = (c: Channel): void => {
    c.timer.unsubscribe()
    c.pending.clear()
    channels.delete(c.filter)
    if (channels.size === 0) {
      unlisten?.()
      unlisten = undefined
    }
  }

  const open = (filter: string, carryFrom: string | undefined): Channel => {
    const pending = new Map<string, readonly [string, Message]>()
    const from = carryFrom === undefined ? undefined : channels.get(carryFrom)
    for (const [key, entry] of from?.pending ?? []) if (topicMatches(filter, entry[1].topic)) pending.set(key, entry)
    const c: Channel = { filter, pending, members: new Set(), timer: interval(limits.flushMs, scheduler).subscribe(() => flush(c)) }
    channels.set(filter, c)
    unlisten ??= hub.listen(offer)
    return c
  }

  return {
    join: (filter, receive, carryFrom) => {
      const c = channels.get(filter) ?? open(filter, carryFrom)
      // a member of its own, so a client may join the channel it is about to leave
      const member = (text: string): void => receive(text)
      c.members.add(member)
      return () => {
        if (!c.members.delete(member)) return
        if (c.members.size === 0 && channels.get(c.filter) === c) remove(c)
      }
    },
    size: () => channels.size,
    close: () => {
      for (const c of [...channels.values()]) remove(c)
    },
  }
}
