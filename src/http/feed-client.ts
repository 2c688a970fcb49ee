/**
 * One live feed connection: sends the hello frame, forwards the shared frames, and the `messages` frames of the
 * channel of its filter: at most one per flush period (10 Hz), the latest message per topic and at most
 * `maxTopicsPerFlush` topics, coalesced and serialized once for every client on that filter, so its cost is
 * bounded however fast the brokers are and however many clients watch. A client whose socket buffer grows past
 * `maxBufferedBytes` (a stalled tab, a slow link) is closed with 1013 and counted.
 */
import * as E from 'fp-ts/lib/Either.js'
import { Subscription, type SchedulerLike } from 'rxjs'
import { validateTopicFilter } from '../mqtt/topic.js'
import type { FeedChannels, FeedHub, FlushLimits } from './feed-hub.js'
import { parseClientFrame, type ServerFrame } from './frames.js'

/** The part of a ws WebSocket a feed client uses. */
export interface FeedSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string): void
  close(code?: number, reason?: string): void
  terminate(): void
}

/** How a client is bounded (the flush limits apply to the channel it shares). */
export interface FeedLimits extends FlushLimits {
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

/** Starts a client on `socket` in the channel of `#`: the hello frame goes out at once. */
export function openFeedClient(
  socket: FeedSocket,
  hub: Pick<FeedHub, 'hello' | 'broadcast$' | 'addClient' | 'noteDropped'>,
  channels: FeedChannels,
  scheduler: SchedulerLike,
  limits: Pick<FeedLimits, 'maxBufferedBytes' | 'dropGraceMs'>,
): FeedClient {
  let filter = '#'
  let ended = false
  let leave: () => void = () => undefined
  const subs = new Subscription()

  const end = (): void => {
    if (ended) return
    ended = true
    subs.unsubscribe()
    leave()
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

  const receive = (text: string | undefined): void => {
    if (ended) return
    if (text === undefined) return send({ type: 'error', message: 'send text frames (JSON)' })
    const parsed = parseClientFrame(text)
    if (E.isLeft(parsed)) return send({ type: 'error', message: parsed.left })
    const valid = validateTopicFilter(parsed.right.filter)
    if (E.isLeft(valid)) return send({ type: 'error', message: `invalid filter: ${valid.left}` })
    const previous = filter
    filter = valid.right
    // joined before leaving: a new channel starts with what the old one holds that the filter matches
    const leavePrevious = leave
    leave = channels.join(filter, sendText, previous)
    leavePrevious()
    send({ type: 'filter', filter })
  }

  send(hub.hello(filter))
  subs.add(hub.addClient())
  subs.add(hub.broadcast$.subscribe(sendText))
  leave = channels.join(filter, sendText)
  return { receive, end }
}
