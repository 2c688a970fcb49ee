/**
 * One live feed connection: sends the hello frame, forwards the shared frames, and coalesces messages into
 * at most one `messages` frame per flush period (10 Hz), keeping the latest message per topic and at most
 * `maxTopicsPerFlush` topics, so its cost is bounded however fast the brokers are. A client whose socket
 * buffer grows past `maxBufferedBytes` (a stalled tab, a slow link) is closed with 1013 and counted.
 *
 *   messages  ─a─a─b─a─c─a────a─b─│
 *   flush     ─────────┬─────────┬─   every flushMs
 *   frames    ─────────{a,b,c}───{a,b}
 */
import * as E from 'fp-ts/lib/Either.js'
import { interval, Subscription, type SchedulerLike } from 'rxjs'
import { topicMatches, validateTopicFilter } from '../mqtt/topic.js'
import type { Message } from '../streams/types.js'
import type { FeedHub } from './feed-hub.js'
import { parseClientFrame, type ServerFrame } from './frames.js'

/** The part of a ws WebSocket a feed client uses. */
export interface FeedSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string): void
  close(code?: number, reason?: string): void
  terminate(): void
}

/** How a client is bounded. */
export interface FeedLimits {
  /** Period of the `messages` frames, in ms (100: at most 10 a second). */
  readonly flushMs: number
  /** Topics in one `messages` frame at most; further new topics wait for a later flush (dropped meanwhile). */
  readonly maxTopicsPerFlush: number
  /** Bytes waiting in the socket's buffer past which the client is closed. */
  readonly maxBufferedBytes: number
  /** Time a closed slow client gets to read its close frame before the socket is destroyed, in ms. */
  readonly dropGraceMs: number
}

export const defaultFeedLimits: FeedLimits = { flushMs: 100, maxTopicsPerFlush: 200, maxBufferedBytes: 1024 * 1024, dropGraceMs: 1000 }

/** Close code 1013 "try again later": the server sheds a client that cannot keep up. */
export const CLOSE_TOO_SLOW = 1013

const OPEN = 1

export interface FeedClient {
  /** A text frame from the client (undefined for a binary frame). */
  readonly receive: (text: string | undefined) => void
  /** The socket closed: stop everything. */
  readonly end: () => void
}

/** Starts a client on `socket`: the hello frame goes out at once. */
export function openFeedClient(socket: FeedSocket, hub: FeedHub, scheduler: SchedulerLike, limits: FeedLimits): FeedClient {
  let filter = '#'
  let ended = false
  const pending = new Map<string, readonly [string, Message]>()
  const subs = new Subscription()

  const end = (): void => {
    if (ended) return
    ended = true
    subs.unsubscribe()
    pending.clear()
  }

  const drop = (): void => {
    const waiting = socket.bufferedAmount
    end()
    hub.noteDropped()
    socket.close(CLOSE_TOO_SLOW, `too slow: ${waiting} bytes waiting`)
    // a stalled reader never answers the close frame: free the socket's buffers after a grace period
    scheduler.schedule(() => socket.terminate(), limits.dropGraceMs)
  }

  const sendText = (text: string): void => {
    if (ended || socket.readyState !== OPEN) return
    if (socket.bufferedAmount > limits.maxBufferedBytes) return drop()
    socket.send(text)
  }
  const send = (frame: ServerFrame): void => sendText(JSON.stringify(frame))

  const flush = (): void => {
    if (pending.size === 0) return
    const samples = [...pending.values()].map(([sessionId, m]) => hub.sample(sessionId, m))
    pending.clear()
    send({ type: 'messages', samples })
  }

  const onMessage = (sessionId: string, m: Message): void => {
    if (!topicMatches(filter, m.topic)) return
    // U+0000 cannot occur in a topic, so the key is unambiguous
    const key = `${sessionId}\u0000${m.topic}`
    if (pending.size >= limits.maxTopicsPerFlush && !pending.has(key)) return
    pending.set(key, [sessionId, m])
  }

  const receive = (text: string | undefined): void => {
    if (ended) return
    if (text === undefined) return send({ type: 'error', message: 'send text frames (JSON)' })
    const parsed = parseClientFrame(text)
    if (E.isLeft(parsed)) return send({ type: 'error', message: parsed.left })
    const valid = validateTopicFilter(parsed.right.filter)
    if (E.isLeft(valid)) return send({ type: 'error', message: `invalid filter: ${valid.left}` })
    filter = valid.right
    for (const [key, [, m]] of pending) if (!topicMatches(filter, m.topic)) pending.delete(key)
    send({ type: 'filter', filter })
  }

  send(hub.hello(filter))
  subs.add(hub.broadcast$.subscribe(sendText))
  subs.add(hub.listen(onMessage))
  subs.add(interval(limits.flushMs, scheduler).subscribe(flush))
  return { receive, end }
}
