/** The `/ws` live feed route group: one feed client per WebSocket, all sharing one hub. */
import type { FastifyPluginAsync } from 'fastify'
import type { SchedulerLike } from 'rxjs'
import { openFeedClient, type FeedLimits } from './feed-client.js'
import { createFeedChannels, type FeedHub } from './feed-hub.js'

export interface FeedOptions {
  readonly hub: FeedHub
  readonly scheduler: SchedulerLike
  readonly limits: FeedLimits
}

/** What ws hands a message handler. */
type RawData = Buffer | ArrayBuffer | Buffer[]

const textOf = (data: RawData): string =>
  (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8')

/** How /docs describes the upgrade (nothing to validate: no params, query or body); copied per route, as @fastify/websocket marks it hidden. */
const WS_DOCS = {
  tags: ['live feed'],
  summary: 'The live feed (WebSocket upgrade)',
  description:
    'A WebSocket (`Upgrade: websocket`). The server sends JSON text frames: `hello` (sessions, recent calls), `session`, ' +
    '`tool_call`, `stats` and `messages` (samples coalesced to at most 10 frames a second, the latest per topic); the client may ' +
    'send `{"type":"filter","filter":"sensors/#"}` to choose the topics it sees. A client that falls behind is closed with 1013.',
  response: { 101: { description: 'Switching Protocols: the feed follows as WebSocket text frames.', type: 'null' } },
} as const

/** GET /ws (WebSocket only; `?token=` accepted): the live feed. */
export const feedRoutes: FastifyPluginAsync<FeedOptions> = async (app, o) => {
  const channels = createFeedChannels(o.hub, o.scheduler, o.limits)
  app.get('/ws', { websocket: true, config: { access: 'page' }, schema: { ...WS_DOCS } }, (socket) => {
    // handlers attached synchronously, before anything else can run: no early frame is lost
    const client = openFeedClient(socket, o.hub, channels, o.scheduler, o.limits)
    socket.on('message', (data, isBinary) => client.receive(isBinary ? undefined : textOf(data)))
    socket.on('close', () => client.end())
  })
  // the hub opened the broker subscriptions; this group closes them
  app.addHook('onClose', async () => {
    channels.close()
    o.hub.close()
  })
}
