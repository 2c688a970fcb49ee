/**
 * MCP resources: the session list, each session's observed topic tree, and the last message on a topic.
 * A subscribed topic resource holds a (ref-counted) broker subscription and tells the client when a new
 * message arrives, at most once a second per resource; unsubscribing or disconnecting releases it.
 *
 *   mqtt://sessions
 *   mqtt://sessions/{session_id}/topics
 *   mqtt://sessions/{session_id}/topics/{+topic}
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import {
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js'
import * as E from 'fp-ts/lib/Either.js'
import { asyncScheduler, throttleTime, type SchedulerLike, type Subscription } from 'rxjs'
import { validateTopicName } from '../mqtt/topic.js'
import type { SessionAccess } from '../sessions/registry.js'
import type { Session } from '../sessions/session.js'
import { messageView } from '../tools/message-view.js'

const SESSIONS = 'mqtt://sessions'
const JSON_MIME = 'application/json'

/** A parsed resource URI. */
export type ResourceRef =
  | { readonly kind: 'sessions' }
  | { readonly kind: 'topics'; readonly sessionId: string }
  | { readonly kind: 'topic'; readonly sessionId: string; readonly topic: string }

/** Parses one of our resource URIs; template variables arrive percent-encoded. Undefined when not ours. */
export function parseResourceUri(uri: string): ResourceRef | undefined {
  if (uri === SESSIONS) return { kind: 'sessions' }
  const m = /^mqtt:\/\/sessions\/([^/]+)\/topics(?:\/(.*))?$/.exec(uri)
  if (m === null) return undefined
  try {
    const sessionId = decodeURIComponent(m[1]!)
    if (m[2] === undefined) return { kind: 'topics', sessionId }
    // {+topic} keeps '/' as it is; decode each level so '%2B' or '%23' cannot smuggle wildcards in
    const topic = m[2].split('/').map(decodeURIComponent).join('/')
    return { kind: 'topic', sessionId, topic }
  } catch {
    return undefined
  }
}

/** The URI of a topic resource, percent-encoding each level. */
export const topicUri = (sessionId: string, topic: string): string =>
  `mqtt://sessions/${encodeURIComponent(sessionId)}/topics/${topic.split('/').map(encodeURIComponent).join('/')}`

export interface ResourceDeps {
  readonly registry: SessionAccess
  readonly budgetChars: number
  readonly maxPayloadBytes?: number
  readonly scheduler?: SchedulerLike
}

/** Registers resources on `server`; returns a function that releases every subscription (on close). */
export function registerResources(server: Server, deps: ResourceDeps): () => void {
  const scheduler = deps.scheduler ?? asyncScheduler
  const subscriptions = new Map<string, Subscription>()

  const session = (id: string): Session => {
    const found = deps.registry.get(id)
    if (E.isLeft(found)) throw new McpError(ErrorCode.InvalidParams, found.left.message)
    return found.right
  }

  const json = (uri: string, value: unknown) => ({ contents: [{ uri, mimeType: JSON_MIME, text: JSON.stringify(value) }] })

  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: [
      { uri: SESSIONS, name: 'sessions', title: 'Open MQTT sessions', mimeType: JSON_MIME, description: 'The open sessions, as mqtt_list_active_connections returns them.' },
      ...deps.registry.list().map((s) => ({
        uri: `mqtt://sessions/${encodeURIComponent(s.id)}/topics`,
        name: `${s.name ?? s.id} topics`,
        title: `Topics seen by ${s.name ?? s.id}`,
        mimeType: JSON_MIME,
        description: 'The topic tree this session has observed, as mqtt_list_topics returns it.',
      })),
    ],
  }))

  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [
      {
        uriTemplate: 'mqtt://sessions/{session_id}/topics',
        name: 'session-topics',
        title: 'Topics a session has seen',
        mimeType: JSON_MIME,
        description: 'The observed topic tree of one session.',
      },
      {
        uriTemplate: 'mqtt://sessions/{session_id}/topics/{+topic}',
        name: 'topic-last-message',
        title: 'Last message on a topic',
        mimeType: JSON_MIME,
        description: 'The last message the session received on a topic, decoded like the tools decode it. Subscribe to be told when a new one arrives (at most once a second).',
      },
    ],
  }))

  server.setRequestHandler(ReadResourceRequestSchema, (req) => {
    const uri = req.params.uri
    const ref = parseResourceUri(uri)
    if (ref === undefined) throw new McpError(ErrorCode.InvalidParams, `Unknown resource ${uri}; see resources/list and resources/templates/list.`)
    if (ref.kind === 'sessions') {
      return json(uri, { sessions: deps.registry.list().map((s) => s.info(deps.registry.ttlMs)), max_sessions: deps.registry.maxSessions })
    }
    const s = session(ref.sessionId)
    if (ref.kind === 'topics') return json(uri, { session_id: s.id, ...s.observedTree(Math.floor(deps.budgetChars * 0.9)) })
    const last = s.lastMessage(ref.topic)
    return json(uri, last === undefined ? { topic: ref.topic, message: null, note: 'No message seen on this topic yet; subscribe to this resource to be told when one arrives.' } : messageView(last, deps.maxPayloadBytes ?? 1024))
  })

  server.setRequestHandler(SubscribeRequestSchema, (req) => {
    const uri = req.params.uri
    if (subscriptions.has(uri)) return {}
    const ref = parseResourceUri(uri)
    if (ref === undefined || ref.kind !== 'topic') {
      throw new McpError(ErrorCode.InvalidParams, `Only topic resources (mqtt://sessions/{session_id}/topics/{topic}) can be subscribed; got ${uri}.`)
    }
    const valid = validateTopicName(ref.topic)
    if (E.isLeft(valid)) throw new McpError(ErrorCode.InvalidParams, `topic: ${valid.left}`)
    const s = session(ref.sessionId)
    const sub = s
      .subscribe(ref.topic, 0)
      // leading and trailing: the first change is told at once, a burst ends with its last value told
      .pipe(throttleTime(1000, scheduler, { leading: true, trailing: true }))
      .subscribe({
        next: () => void server.sendResourceUpdated({ uri }).catch(() => undefined),
        complete: () => subscriptions.delete(uri),
        error: () => subscriptions.delete(uri),
      })
    if (!sub.closed) subscriptions.set(uri, sub)
    return {}
  })

  server.setRequestHandler(UnsubscribeRequestSchema, (req) => {
    subscriptions.get(req.params.uri)?.unsubscribe()
    subscriptions.delete(req.params.uri)
    return {}
  })

  const events = deps.registry.events$.subscribe((e) => {
    // nothing may reach a client before it has initialized (a demo session opens at start-up)
    if (e.type !== 'state' && server.getClientCapabilities() !== undefined) void server.sendResourceListChanged().catch(() => undefined)
  })

  return () => {
    events.unsubscribe()
    for (const sub of subscriptions.values()) sub.unsubscribe()
    subscriptions.clear()
  }
}
