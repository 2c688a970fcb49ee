/**
 * Ref-counted broker subscriptions: the first subscriber to a filter sends SUBSCRIBE, the last one to leave
 * sends UNSUBSCRIBE, and everyone in between shares it. The table listens to the session's one message
 * stream while it holds a filter and matches each message once per distinct filter, then hands it to that
 * filter's subscribers (20 windows on 8 filters cost 8 matches, not 20). `restore()` re-sends every
 * SUBSCRIBE after a reconnect.
 *
 *   messages$:        --a--b--c--d--
 *   subscribe(f) #1:  ^-----------!        SUBSCRIBE f at ^, …
 *   subscribe(f) #2:      ^-------------!  … UNSUBSCRIBE f when #2 leaves
 */
import { concat, defer, EMPTY, ignoreElements, Observable, ReplaySubject, Subject, type Subscriber, type Subscription } from 'rxjs'
import type { AppError } from '../errors.js'
import { topicMatches } from '../mqtt/topic.js'
import type { Message, QoS } from './types.js'

/** The broker side of subscribing, on whatever connection is current. */
export interface BrokerSubscriber {
  /** Sends SUBSCRIBE; emits the granted QoS, fails with SubscribeRejected; completes empty when offline. */
  subscribe(filter: string, qos: QoS): Observable<QoS>
  /** Sends UNSUBSCRIBE; completes when done (or at once when offline). */
  unsubscribe(filter: string): Observable<void>
}

/** One broker subscription as the status page and tools show it. */
export interface SubscriptionInfo {
  readonly filter: string
  readonly qos: QoS
  /** What the broker granted in SUBACK; undefined while pending or offline. */
  readonly granted: QoS | undefined
  /** How many streams (windows, feeds, resources) share it. */
  readonly refs: number
}

export interface SubscriptionTable {
  /** Messages matching `filter`; SUBSCRIBE on the first subscriber, UNSUBSCRIBE after the last. */
  /**
   * Messages matching `filter`; SUBSCRIBE on the first subscriber, UNSUBSCRIBE after the last.
   * `replayRetained` sends SUBSCRIBE again when the filter is already held, so the broker replays its
   * retained messages for this subscriber too (the others see them as well, flagged retained).
   */
  subscribe(filter: string, qos?: QoS, onGranted?: (qos: QoS) => void, opts?: { replayRetained?: boolean }): Observable<Message>
  /** Sends SUBSCRIBE again for every filter in use (after a reconnect). */
  restore(): void
  list(): readonly SubscriptionInfo[]
  /** How many held filters match `topic`: how many copies of one PUBLISH a broker may send us. */
  matchCount(topic: string): number
  /** Ends every subscriber (session closed). */
  completeAll(): void
}

interface Entry {
  readonly filter: string
  qos: QoS
  granted: QoS | undefined
  refs: number
  /** Replaced, never mutated: a delivery in progress keeps iterating the array it started with. */
  subscribers: readonly Subscriber<Message>[]
  readonly failed: Subject<AppError>
  readonly done: Subject<void>
  readonly waiting: Set<(qos: QoS) => void>
  pending: Subscription | undefined
}

/** Creates the table over a session's hot message stream and its broker. */
export function createSubscriptionTable(messages$: Observable<Message>, broker: BrokerSubscriber): SubscriptionTable {
  const entries = new Map<string, Entry>()
  /**
   * Filters whose UNSUBSCRIBE is not confirmed yet: a new SUBSCRIBE of the same filter waits for the UNSUBACK.
   * aedes handles an UNSUBSCRIBE and a SUBSCRIBE that follows it concurrently and may drop the new subscription
   * (SUBACK sent, retained messages delivered, live ones never): seen with two windows on a filter in a row.
   */
  const unsubscribing = new Map<string, ReplaySubject<never>>()
  /** The entries that have subscribers, replaced on change like `Entry.subscribers`. */
  let active: readonly Entry[] = []
  let source: Subscription | undefined

  // The session asks matchCount(topic) (copy dropping) just before delivering that message: the matching
  // entries are remembered for the last topic and `active` array, so each message is matched once.
  let matchedTopic: string | undefined
  let matchedIn: readonly Entry[] = active
  let matched: readonly Entry[] = []
  const matching = (topic: string): readonly Entry[] => {
    if (topic !== matchedTopic || matchedIn !== active) {
      const found: Entry[] = []
      for (const e of active) if (topicMatches(e.filter, topic)) found.push(e)
      matchedTopic = topic
      matchedIn = active
      matched = found
    }
    return matched
  }

  const deliver = (m: Message): void => {
    const list = matching(m.topic)
    for (let i = 0; i < list.length; i++) {
      const subs = list[i]!.subscribers
      for (let k = 0; k < subs.length; k++) subs[k]!.next(m)
    }
  }
  const fail = (x: unknown): void => {
    source = undefined
    for (const e of active) for (const sub of e.subscribers) sub.error(x)
  }
  const attach = (e: Entry, sub: Subscriber<Message>): void => {
    if (e.subscribers.length === 0) active = [...active, e]
    e.subscribers = [...e.subscribers, sub]
    source ??= messages$.subscribe({ next: deliver, error: fail })
  }
  const detach = (e: Entry, sub: Subscriber<Message>): void => {
    e.subscribers = e.subscribers.filter((x) => x !== sub)
    if (e.subscribers.length === 0) active = active.filter((x) => x !== e)
    if (active.length === 0 && source !== undefined) {
      const s = source
      source = undefined
      s.unsubscribe()
    }
  }

  const send = (entry: Entry): void => {
    entry.pending?.unsubscribe()
    const gate = unsubscribing.get(entry.filter)
    const subscribe$ = defer(() => broker.subscribe(entry.filter, entry.qos))
    entry.pending = (gate === undefined ? subscribe$ : concat(gate.pipe(ignoreElements()), subscribe$)).subscribe({
      next: (granted) => {
        entry.granted = granted
        for (const notify of entry.waiting) notify(granted)
        entry.waiting.clear()
      },
      error: (e: AppError) => {
        entries.delete(entry.filter)
        entry.failed.next(e)
      },
    })
  }

  const subscribe = (filter: string, qos: QoS = 0, onGranted?: (qos: QoS) => void, opts: { replayRetained?: boolean } = {}): Observable<Message> =>
    new Observable<Message>((subscriber) => {
      let entry = entries.get(filter)
      const fresh = entry === undefined
      if (entry === undefined) {
        entry = { filter, qos, granted: undefined, refs: 0, subscribers: [], failed: new Subject(), done: new Subject(), waiting: new Set(), pending: undefined }
        entries.set(filter, entry)
      }
      const e = entry
      e.refs++
      // attach to messages before SUBSCRIBE goes out, so retained messages are never missed
      attach(e, subscriber)
      const failed = e.failed.subscribe((x) => subscriber.error(x))
      const done = e.done.subscribe(() => subscriber.complete())
      if (onGranted !== undefined) {
        if (e.granted !== undefined && !fresh && qos <= e.qos) onGranted(e.granted)
        else e.waiting.add(onGranted)
      }
      if (fresh) send(e)
      else if (qos > e.qos || opts.replayRetained === true) {
        // SUBSCRIBE again: a stronger QoS replaces the broker's grant; a repeat makes it replay retained messages
        e.qos = Math.max(qos, e.qos) as QoS
        send(e)
      }
      return () => {
        detach(e, subscriber)
        failed.unsubscribe()
        done.unsubscribe()
        if (onGranted !== undefined) e.waiting.delete(onGranted)
        e.refs--
        if (e.refs === 0 && entries.get(filter) === e) {
          entries.delete(filter)
          e.pending?.unsubscribe()
          const gate = new ReplaySubject<never>()
          unsubscribing.set(filter, gate)
          const confirmed = (): void => {
            if (unsubscribing.get(filter) === gate) unsubscribing.delete(filter)
            gate.complete()
          }
          broker.unsubscribe(filter).subscribe({ error: confirmed, complete: confirmed })
        }
      }
    })

  return {
    subscribe,
    restore: () => {
      // a new connection has no subscriptions: UNSUBSCRIBEs sent on the old one are moot
      unsubscribing.clear()
      for (const entry of entries.values()) {
        entry.granted = undefined
        send(entry)
      }
    },
    matchCount: (topic) => matching(topic).length,
    list: () => [...entries.values()].map(({ filter, qos, granted, refs }) => ({ filter, qos, granted, refs })),
    completeAll: () => {
      const all = [...entries.values()]
      // cleared first, so the subscribers' teardown sends no UNSUBSCRIBE on a closing connection
      entries.clear()
      unsubscribing.clear()
      for (const entry of all) {
        entry.pending?.unsubscribe()
        entry.done.next()
      }
    },
  }
}

/** A BrokerSubscriber that does nothing (no connection yet): SUBSCRIBEs wait for restore(). */
export const offlineBroker: BrokerSubscriber = { subscribe: () => EMPTY, unsubscribe: () => EMPTY }
