/**
 * The open sessions: the session limit, the optional-session_id rule with the default broker, and expiry
 * of sessions idle longer than the TTL (counted from last use; a session in use never expires).
 */
import * as E from 'fp-ts/lib/Either.js'
import { interval, Subject, type Observable, type Subscription } from 'rxjs'
import * as err from '../errors.js'
import type { AppError } from '../errors.js'
import { Session, type SessionDeps, type SessionSpec, type SessionState } from './session.js'

export type RegistryEvent =
  | { readonly type: 'opened'; readonly session: Session }
  | { readonly type: 'state'; readonly session: Session; readonly state: SessionState }
  | { readonly type: 'closed'; readonly session: Session; readonly reason: 'closed' | 'expired' | 'failed' }

/**
 * What one MCP client may do with sessions: it sees and closes only the sessions it opened, plus the
 * default broker's. The registry itself (the status page) sees all.
 */
export interface SessionAccess {
  readonly maxSessions: number
  readonly ttlMs: number
  readonly events$: Observable<RegistryEvent>
  list(): readonly Session[]
  open(spec: SessionSpec): Promise<E.Either<AppError, Session>>
  get(id: string): E.Either<AppError, Session>
  resolve(id: string | undefined): Promise<E.Either<AppError, Session>>
  close(id: string): Promise<E.Either<AppError, Session>>
}

export interface RegistryOptions {
  readonly maxSessions: number
  /** Idle time before a session is closed, in ms. */
  readonly ttlMs: number
  /** The default broker's session spec (MQTT_URL or --demo), opened on first use. */
  readonly defaultSpec?: () => SessionSpec
  readonly deps: SessionDeps
}

const REMEMBER_EXPIRED = 200

export class SessionRegistry implements SessionAccess {
  private readonly sessions = new Map<string, Session>()
  private readonly expired = new Map<string, number>()
  private readonly events = new Subject<RegistryEvent>()
  private readonly sweeper: Subscription
  private opening = 0
  private defaultOpening: Promise<E.Either<AppError, Session>> | undefined

  constructor(private readonly opts: RegistryOptions) {
    // sweep often enough that a session ends within a quarter TTL (at most 10 s) after it expired
    const sweepMs = Math.max(50, Math.min(10_000, Math.floor(opts.ttlMs / 4)))
    this.sweeper = interval(sweepMs, opts.deps.scheduler).subscribe(() => void this.sweep())
  }

  /** Session lifecycle events, for the status page and resources. */
  get events$(): Observable<RegistryEvent> {
    return this.events
  }

  get maxSessions(): number {
    return this.opts.maxSessions
  }

  get ttlMs(): number {
    return this.opts.ttlMs
  }

  /** The open sessions, oldest first. */
  list(): readonly Session[] {
    return [...this.sessions.values()]
  }

  /** Opens a session unless the limit is reached; a failed connect leaves nothing behind. */
  async open(spec: SessionSpec): Promise<E.Either<AppError, Session>> {
    if (this.sessions.size + this.opening >= this.opts.maxSessions) {
      return E.left(
        err.resourceLimit({
          message: `${this.opts.maxSessions} sessions are open, the most this server allows (MQTT_MCP_MAX_SESSIONS).`,
          limit: this.opts.maxSessions,
        }),
      )
    }
    this.opening++
    let result: E.Either<AppError, Session>
    try {
      result = await Session.open(spec, this.opts.deps)
    } finally {
      this.opening--
    }
    if (E.isRight(result)) this.adopt(result.right)
    return result
  }

  /** The session with this id, or SessionNotFound / SessionExpired. */
  get(id: string, visible: (s: Session) => boolean = () => true): E.Either<AppError, Session> {
    const s = this.sessions.get(id)
    // another client's session answers like a missing one: its existence is not ours to tell
    if (s !== undefined && visible(s)) return E.right(s)
    if (this.expired.has(id)) {
      return E.left(err.sessionExpired({ message: `Session ${id} was closed after ${Math.round(this.opts.ttlMs / 1000)} s without use.`, sessionId: id }))
    }
    return E.left(err.sessionNotFound({ message: `No open session has the id ${id}.`, sessionId: id }))
  }

  /** Applies the optional-session_id rule: the given id; else the only open session; else the default broker's. */
  async resolve(id: string | undefined, visible: (s: Session) => boolean = () => true): Promise<E.Either<AppError, Session>> {
    if (id !== undefined) return this.get(id, visible)
    const open = this.list().filter(visible)
    if (open.length === 1 && open[0] !== undefined) return E.right(open[0])
    const current = open.find((s) => s.isDefault)
    if (current !== undefined) return E.right(current)
    if (this.opts.defaultSpec !== undefined) {
      const spec = this.opts.defaultSpec
      this.defaultOpening ??= this.open({ ...spec(), isDefault: true }).finally(() => {
        this.defaultOpening = undefined
      })
      return this.defaultOpening
    }
    if (open.length === 0) {
      return E.left(err.sessionNotFound({ message: 'No session is open and no default broker is configured.' }))
    }
    return E.left(
      err.invalidInput({
        message: `${open.length} sessions are open; say which one with session_id (${open.map((s) => s.id).join(', ')}).`,
        fields: [{ field: 'session_id', expected: `one of ${open.map((s) => s.id).join(', ')}` }],
      }),
    )
  }

  /** The registry as one MCP client sees it: its own sessions and the default broker's. */
  view(owner: string): SessionAccess {
    const visible = (s: Session): boolean => s.isDefault || s.owner === owner
    return {
      maxSessions: this.maxSessions,
      ttlMs: this.ttlMs,
      events$: this.events$,
      list: () => this.list().filter(visible),
      open: (spec) => this.open({ ...spec, owner }),
      get: (id) => this.get(id, visible),
      resolve: (id) => this.resolve(id, visible),
      close: async (id) => {
        const found = this.get(id, visible)
        return E.isLeft(found) ? found : this.close(id)
      },
    }
  }

  /** Closes every session `owner` opened (its MCP client went away). */
  async closeOwnedBy(owner: string): Promise<void> {
    await Promise.all(this.list().filter((s) => s.owner === owner && !s.isDefault).map((s) => this.closeSession(s, 'closed')))
  }

  /** Closes one session (DISCONNECT sent). */
  async close(id: string): Promise<E.Either<AppError, Session>> {
    const found = this.get(id)
    if (E.isLeft(found)) return found
    await this.closeSession(found.right, 'closed')
    return found
  }

  /** Closes every session and stops expiry (shutdown). */
  async closeAll(): Promise<void> {
    this.sweeper.unsubscribe()
    await Promise.all(this.list().map((s) => this.closeSession(s, 'closed')))
    this.events.complete()
  }

  private adopt(session: Session): void {
    // idle time counts from when the caller gets the session, not from before a slow connect
    session.touch()
    this.sessions.set(session.id, session)
    this.events.next({ type: 'opened', session })
    session.state$.subscribe({
      next: (state) => this.events.next({ type: 'state', session, state }),
    })
    // a session can end on its own (fatal error after a reconnect)
    session.closed$.subscribe(() => {
      if (this.sessions.delete(session.id)) this.events.next({ type: 'closed', session, reason: 'failed' })
    })
  }

  private async closeSession(session: Session, reason: 'closed' | 'expired'): Promise<void> {
    if (!this.sessions.delete(session.id)) return
    if (reason === 'expired') {
      this.expired.set(session.id, this.opts.deps.scheduler.now())
      if (this.expired.size > REMEMBER_EXPIRED) this.expired.delete(this.expired.keys().next().value as string)
    }
    await session.close()
    this.events.next({ type: 'closed', session, reason })
  }

  private async sweep(): Promise<void> {
    const now = this.opts.deps.scheduler.now()
    const idle = this.list().filter((s) => s.inUse === 0 && now - s.lastUsedAt >= this.opts.ttlMs)
    await Promise.all(idle.map((s) => this.closeSession(s, 'expired')))
  }
}
