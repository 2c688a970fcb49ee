/**
 * One session: a long-lived MQTT connection shared by every tool call, the web feed and resources. Its
 * connection is the connection source retried with backoff; its messages are one hot stream; its broker
 * subscriptions are ref-counted and restored after every reconnect. Credentials stay sealed until a connect.
 */
import { randomUUID } from 'node:crypto'
import * as E from 'fp-ts/lib/Either.js'
import {
  BehaviorSubject,
  defer,
  EMPTY,
  firstValueFrom,
  Subject,
  tap,
  type Observable,
  type SchedulerLike,
  type Subscription,
} from 'rxjs'
import * as err from '../errors.js'
import type { AppError } from '../errors.js'
import type { Logger } from '../log.js'
import { formatBrokerUrl, type BrokerUrl } from '../mqtt/url.js'
import { retryBackoff, type BackoffPolicy } from '../streams/retry-backoff.js'
import { initialObserved, lastMessage, observedTree, observeStep } from '../streams/observed-topics.js'
import { createSubscriptionTable, type SubscriptionInfo, type SubscriptionTable } from '../streams/subscriptions.js'
import type { TopicTreeResult } from '../streams/topic-tree.js'
import type { ConnackInfo, ConnectOptions, Link, Message, ProtocolVersion, PublishAck, PublishOptions, QoS, TlsOptions } from '../streams/types.js'
import { sealOptional, wipe, type Sealed, type Sealer } from './secrets.js'

export type SessionState = 'connecting' | 'connected' | 'reconnecting' | 'closed'

/** What a caller asks for; secrets in plain text here are sealed at once by `openSession`. */
export interface SessionSpec {
  readonly name?: string
  readonly url: BrokerUrl
  readonly username?: string
  readonly password?: string
  readonly clientId: string
  readonly protocolVersion: ProtocolVersion | 'auto'
  readonly keepaliveSeconds: number
  readonly clean: boolean
  readonly connectTimeoutMs: number
  readonly tls?: TlsOptions
  /** Opened from MQTT_URL / --demo rather than by a tool call. */
  readonly isDefault?: boolean
  /** The MCP client that opened it (stdio, or an HTTP MCP session id): only it sees the session. */
  readonly owner?: string
}

/** Opens one connection attempt (the connection source, or a negotiating wrapper around it). */
export type Connector = (opts: Omit<ConnectOptions, 'protocolVersion'> & { protocolVersion: ProtocolVersion | 'auto' }) => Observable<Link>

export interface SessionDeps {
  readonly connect: Connector
  readonly sealer: Sealer
  readonly scheduler: SchedulerLike
  readonly logger: Logger
  readonly backoff?: BackoffPolicy
  readonly random?: () => number
  /** Wall clock in ms since the epoch (the scheduler's now by default). */
  readonly now?: () => number
}

/** A reconnect gap, in ms since the epoch; `end` is undefined while it lasts. */
export interface Interruption {
  readonly start: number
  readonly end: number | undefined
  readonly error: string
}

/** The session as `mqtt_list_active_connections` shows it. */
export interface SessionInfo {
  readonly session_id: string
  readonly name: string | null
  readonly broker: string
  readonly client_id: string
  readonly protocol_version: ProtocolVersion | null
  readonly state: SessionState
  readonly reconnects: number
  readonly last_error: string | null
  readonly created_at: string
  readonly last_used_at: string
  readonly expires_at: string
  readonly subscriptions: ReadonlyArray<{ filter: string; qos: QoS; granted: QoS | null; shared_by: number }>
  readonly messages_received: number
  readonly bytes_received: number
}

const MAX_INTERRUPTIONS = 50

export class Session {
  readonly id: string = randomUUID()
  readonly name: string | undefined
  readonly url: BrokerUrl
  readonly clientId: string
  readonly isDefault: boolean
  readonly owner: string | undefined
  readonly createdAt: number
  lastUsedAt: number
  /** Calls and streams using the session right now; a session in use never expires. */
  inUse = 0
  reconnects = 0
  lastError: AppError | undefined
  messagesReceived = 0
  bytesReceived = 0
  connack: ConnackInfo | undefined
  readonly state$: BehaviorSubject<SessionState>
  readonly interruptions: Interruption[] = []

  private readonly messages = new Subject<Message>()
  private readonly observed = initialObserved()
  private lastDelivered: Message | undefined
  private runLength = 0
  private runMatching = 0
  private singleCopyBroker = false
  private readonly table: SubscriptionTable
  private readonly username: Sealed | undefined
  private readonly password: Sealed | undefined
  private readonly tlsKey: Sealed | undefined
  private readonly tlsPassphrase: Sealed | undefined
  private link: Link | undefined
  private linkMessages: Subscription | undefined
  private pipeline: Subscription | undefined
  private negotiated: ProtocolVersion | undefined
  private readonly closed = new Subject<void>()
  private readonly now: () => number
  /** The spec without its secrets, which are kept sealed only (util.inspect and debug prints show this object). */
  private readonly spec: SessionSpec

  private constructor(
    spec: SessionSpec,
    private readonly deps: SessionDeps,
  ) {
    this.spec = withoutSecrets(spec)
    this.now = deps.now ?? (() => deps.scheduler.now())
    this.name = spec.name
    this.url = { ...spec.url, password: undefined, username: spec.username }
    this.clientId = spec.clientId
    this.isDefault = spec.isDefault ?? false
    this.owner = spec.owner
    this.createdAt = this.now()
    this.lastUsedAt = this.createdAt
    this.username = sealOptional(deps.sealer, spec.username)
    this.password = sealOptional(deps.sealer, spec.password)
    this.tlsKey = sealOptional(deps.sealer, spec.tls?.key)
    this.tlsPassphrase = sealOptional(deps.sealer, spec.tls?.passphrase)
    this.state$ = new BehaviorSubject<SessionState>('connecting')
    this.table = createSubscriptionTable(this.messages, {
      subscribe: (filter, qos) => (this.link !== undefined ? this.link.subscribe(filter, qos) : EMPTY),
      unsubscribe: (filter) => (this.link !== undefined ? this.link.unsubscribe(filter) : EMPTY),
    })
  }

  /** Connects; resolves once connected, or with the error of the first attempt (nothing is left behind then). */
  static async open(spec: SessionSpec, deps: SessionDeps): Promise<E.Either<AppError, Session>> {
    const session = new Session(spec, deps)
    return new Promise((resolve) => {
      let settled = false
      session.start(
        () => {
          if (!settled) {
            settled = true
            resolve(E.right(session))
          }
        },
        (e) => {
          if (!settled) {
            settled = true
            resolve(E.left(e))
          }
        },
      )
    })
  }

  get state(): SessionState {
    return this.state$.value
  }

  /** The MQTT version the broker accepted, once connected. */
  get protocolVersion(): ProtocolVersion | undefined {
    return this.negotiated
  }

  /** Marks the session used now (resets its idle time). */
  touch(): void {
    this.lastUsedAt = this.now()
  }

  /**
   * Messages matching `filter` for as long as the caller stays subscribed; ends when the session closes.
   * `holdsSession: false` (the status page's feed) watches without keeping the session from expiring;
   * `replayRetained` asks the broker for its retained messages even when the filter is already subscribed.
   */
  subscribe(
    filter: string,
    qos: QoS = 0,
    onGranted?: (qos: QoS) => void,
    opts: { holdsSession?: boolean; replayRetained?: boolean } = {},
  ): Observable<Message> {
    if (this.state === 'closed') return EMPTY
    const table = { replayRetained: opts.replayRetained ?? false }
    if (opts.holdsSession === false) return this.table.subscribe(filter, qos, onGranted, table)
    return defer(() => {
      this.inUse++
      this.touch()
      return this.table.subscribe(filter, qos, onGranted, table).pipe(
        tap({
          finalize: () => {
            this.inUse--
            this.touch()
          },
        }),
      )
    })
  }

  /** The topic tree of everything this session has received, within `budgetChars`. */
  observedTree(budgetChars: number, depth?: number): TopicTreeResult {
    return observedTree(this.observed, budgetChars, depth)
  }

  /** The last message this session received on `topic`. */
  lastMessage(topic: string): Message | undefined {
    return lastMessage(this.observed, topic)
  }

  /** Every message this session receives, whatever the subscription (status feed, resources). */
  get messages$(): Observable<Message> {
    return this.messages
  }

  /** The current broker subscriptions. */
  subscriptions(): readonly SubscriptionInfo[] {
    return this.table.list()
  }

  /** Publishes on the current connection; fails with NotConnected while reconnecting (nothing is queued). */
  async publish(topic: string, payload: Buffer, opts: PublishOptions): Promise<E.Either<AppError, PublishAck | undefined>> {
    this.touch()
    const link = this.link
    if (link === undefined || this.state !== 'connected') {
      return E.left(err.notConnected({ message: `The session is ${this.state}; nothing was published.` }))
    }
    try {
      return E.right(await firstValueFrom(link.publish(topic, payload, opts)))
    } catch (e) {
      return E.left(err.fromUnknown(e))
    }
  }

  /** Emits once when the session closes. */
  get closed$(): Observable<void> {
    return this.closed
  }

  /** Sends DISCONNECT, ends every stream of this session and forgets its credentials. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    this.setState('closed')
    this.table.completeAll()
    const link = this.link
    this.link = undefined
    if (link !== undefined) await link.disconnect()
    this.linkMessages?.unsubscribe()
    this.pipeline?.unsubscribe()
    this.messages.complete()
    for (const s of [this.username, this.password, this.tlsKey, this.tlsPassphrase]) wipe(s)
    this.closed.next()
    this.closed.complete()
    this.state$.complete()
  }

  /** The session as tools and the status page show it (no secrets). */
  info(ttlMs: number): SessionInfo {
    const iso = (ms: number): string => new Date(ms).toISOString()
    return {
      session_id: this.id,
      name: this.name ?? null,
      // a placeholder password makes the URL say `user:***@` without the real one ever being here
      broker: formatBrokerUrl({ ...this.url, clientId: undefined, password: this.password !== undefined ? 'redacted' : undefined }),
      client_id: this.clientId,
      protocol_version: this.negotiated ?? null,
      state: this.state,
      reconnects: this.reconnects,
      last_error: this.lastError?.message ?? null,
      created_at: iso(this.createdAt),
      last_used_at: iso(this.lastUsedAt),
      expires_at: iso(this.lastUsedAt + ttlMs),
      subscriptions: this.table.list().map((s) => ({ filter: s.filter, qos: s.qos, granted: s.granted ?? null, shared_by: s.refs })),
      messages_received: this.messagesReceived,
      bytes_received: this.bytesReceived,
    }
  }

  // -------------------------------------------------------------------------------------
  // internals
  // -------------------------------------------------------------------------------------

  /**
   * Mosquitto (and MQTT allows it) sends one copy of a PUBLISH per matching subscription of a client, so
   * overlapping filters (`a/#` and `a/b`) would count a message twice. Those copies arrive back to back, as a
   * run of identical messages (topic, payload, retain) whose length is a multiple of the matching filters:
   * keep the first of every group of that many. A broker that sends one copy (aedes) shows itself by a run
   * that is not such a multiple; from then on nothing is dropped on this session.
   */
  private isExtraCopy(m: Message): boolean {
    const prev = this.lastDelivered
    this.lastDelivered = m
    const same = prev !== undefined && prev.topic === m.topic && prev.retain === m.retain && prev.payload.equals(m.payload)
    if (!same) {
      if (this.runMatching >= 2 && (this.runLength + 1) % this.runMatching !== 0) this.singleCopyBroker = true
      this.runLength = 0
      this.runMatching = this.singleCopyBroker ? 0 : this.table.matchCount(m.topic)
      return false
    }
    this.runLength++
    return this.runMatching >= 2 && this.runLength % this.runMatching !== 0
  }

  private setState(s: SessionState): void {
    if (this.state$.value !== s && !this.state$.closed) this.state$.next(s)
  }

  private connectOptions(): Omit<ConnectOptions, 'protocolVersion'> & { protocolVersion: ProtocolVersion | 'auto' } {
    const open = (s: Sealed | undefined): string | undefined => (s === undefined ? undefined : this.deps.sealer.open(s))
    const username = open(this.username)
    const password = open(this.password)
    const tls = this.spec.tls
    const key = open(this.tlsKey)
    const passphrase = open(this.tlsPassphrase)
    return {
      url: { ...this.spec.url, password: undefined, username: undefined },
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      clientId: this.clientId,
      protocolVersion: this.negotiated ?? this.spec.protocolVersion,
      keepaliveSeconds: this.spec.keepaliveSeconds,
      clean: this.spec.clean,
      connectTimeoutMs: this.spec.connectTimeoutMs,
      ...(tls !== undefined
        ? { tls: { ...tls, ...(key !== undefined ? { key } : {}), ...(passphrase !== undefined ? { passphrase } : {}) } }
        : {}),
    }
  }

  private start(onFirstConnect: () => void, onFirstFailure: (e: AppError) => void): void {
    const log = this.deps.logger.child({ session: this.id })
    let everConnected = false
    this.pipeline = defer(() => this.deps.connect(this.connectOptions()))
      .pipe(
        tap({
          error: (e: AppError) => {
            this.linkMessages?.unsubscribe()
            this.link = undefined
            this.lastError = e
            if (everConnected && this.state === 'connected') {
              this.setState('reconnecting')
              this.interruptions.push({ start: this.now(), end: undefined, error: e.message })
              if (this.interruptions.length > MAX_INTERRUPTIONS) this.interruptions.shift()
              log.warn('connection lost; reconnecting', { error: e.message })
            }
          },
        }),
        retryBackoff<Link, AppError>({
          isRetryable: (e) => everConnected && err.isRetryable(e),
          scheduler: this.deps.scheduler,
          ...(this.deps.backoff !== undefined ? { policy: this.deps.backoff } : {}),
          ...(this.deps.random !== undefined ? { random: this.deps.random } : {}),
          onRetry: (e, attempt, ms) => log.info('reconnect scheduled', { attempt, delay_ms: ms, error: e.message }),
        }),
      )
      .subscribe({
        next: (link) => {
          this.link = link
          this.connack = link.connack
          this.negotiated = link.connack.protocolVersion
          this.linkMessages = link.messages$.subscribe((m) => {
            if (this.isExtraCopy(m)) return
            this.messagesReceived++
            this.bytesReceived += m.payload.length
            observeStep(this.observed, m)
            this.messages.next(m)
          })
          if (everConnected) {
            this.reconnects++
            const gap = this.interruptions[this.interruptions.length - 1]
            if (gap !== undefined && gap.end === undefined) this.interruptions[this.interruptions.length - 1] = { ...gap, end: this.now() }
            log.info('reconnected', { reconnects: this.reconnects })
          }
          everConnected = true
          this.setState('connected')
          this.table.restore()
          onFirstConnect()
        },
        error: (e: AppError) => {
          this.lastError = e
          if (!everConnected) {
            onFirstFailure(e)
            void this.close()
            return
          }
          // a fatal error after a reconnect (e.g. the password was changed): the session ends
          log.error('session ended by a fatal connection error', { error: e.message })
          void this.close()
        },
        complete: () => {
          void this.close()
        },
      })
  }
}

/** The spec minus username, password, URL userinfo and TLS key and passphrase. */
function withoutSecrets(spec: SessionSpec): SessionSpec {
  const { username: _username, password: _password, tls, ...rest } = spec
  const { username: _u, password: _p, ...url } = spec.url
  if (tls === undefined) return { ...rest, url }
  const { key: _key, passphrase: _passphrase, ...publicTls } = tls
  return { ...rest, url, tls: publicTls }
}
