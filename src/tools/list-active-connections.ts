/** mqtt_list_active_connections: the open sessions with their state and counters. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { object } from '../mcp/codec.js'
import { nullableNumber, nullableString } from './common.js'
import { defineTool } from './tool.js'

/** The output codec of one session, shared with the sessions resource. */
export const sessionInfoCodec = object({
  session_id: t.string,
  name: nullableString,
  broker: t.string,
  client_id: t.string,
  protocol_version: nullableNumber,
  state: t.keyof({ connecting: null, connected: null, reconnecting: null, closed: null }),
  reconnects: t.number,
  last_error: nullableString,
  created_at: t.string,
  last_used_at: t.string,
  expires_at: t.string,
  subscriptions: t.readonlyArray(object({ filter: t.string, qos: t.number, granted: nullableNumber, shared_by: t.number })),
  messages_received: t.number,
  bytes_received: t.number,
})

export const listActiveConnections = defineTool({
  name: 'mqtt_list_active_connections',
  title: 'List open MQTT sessions',
  description:
    'Lists the open sessions: id, name, broker (password redacted), client id, protocol version, state (connecting | connected | reconnecting | closed), reconnects, last error, times, broker subscriptions and message counters; plus max_sessions.',
  input: object({}, 'mqtt_list_active_connections'),
  output: object({ sessions: t.readonlyArray(sessionInfoCodec), max_sessions: t.number }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  run: async (_args, ctx) =>
    E.right({
      sessions: ctx.registry.list().map((s) => s.info(ctx.registry.ttlMs)),
      max_sessions: ctx.registry.maxSessions,
    }),
})
