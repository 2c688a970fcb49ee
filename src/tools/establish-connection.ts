/** mqtt_establish_connection: opens a session, one long-lived MQTT client that later calls share. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { described, object, optional, str } from '../mcp/codec.js'
import { nullableString } from './common.js'
import { connectProps, toSessionSpec } from './connect-options.js'
import { defineTool } from './tool.js'

const input = object(
  {
    ...connectProps,
    name: optional(described(str(1, 100), 'A label for this session, shown in lists and on the status page.')),
  },
  'mqtt_establish_connection',
)

const output = object({
  session_id: t.string,
  name: nullableString,
  broker: object({ url: t.string, host: t.string, port: t.number, transport: t.string }),
  client_id: t.string,
  protocol_version: t.number,
  session_present: t.boolean,
  connected_at: t.string,
  expires_at: t.string,
})

export const establishConnection = defineTool({
  name: 'mqtt_establish_connection',
  title: 'Connect to an MQTT broker',
  description: [
    'Opens a session: one long-lived MQTT connection that every later call with its session_id shares.',
    'Supports mqtt, mqtts, ws and wss; MQTT 5 and 3.1.1 (protocol_version "auto" tries 5 and falls back); username/password and TLS client certificates.',
    'Fails with a specific code: BROKER_UNREACHABLE (DNS, TCP), TLS_FAILED, AUTHENTICATION_FAILED, NOT_AUTHORIZED, CONNECTION_REFUSED, CONNECT_TIMEOUT, RESOURCE_LIMIT; a failed connect leaves nothing behind.',
    'Afterwards the session reconnects on its own (backoff 1 s doubling to 30 s, with jitter) and restores its subscriptions. Idle sessions close after the configured TTL (default 1 h).',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  run: async (args, ctx) => {
    const spec = await toSessionSpec(args)
    if (E.isLeft(spec)) return spec
    const opened = await ctx.registry.open(spec.right)
    if (E.isLeft(opened)) return opened
    const s = opened.right
    const info = s.info(ctx.registry.ttlMs)
    return E.right({
      session_id: s.id,
      name: s.name ?? null,
      broker: { url: info.broker, host: s.url.host, port: s.url.port, transport: s.url.transport },
      client_id: s.clientId,
      protocol_version: s.protocolVersion ?? 4,
      session_present: s.connack?.sessionPresent ?? false,
      connected_at: info.last_used_at,
      expires_at: info.expires_at,
    })
  },
})
