/** mqtt_broker_stats: broker identity and health from $SYS, with the names of Mosquitto, aedes, EMQX and HiveMQ mapped to one shape. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { described, int, object, optional } from '../mcp/codec.js'
import { brokerStatsView, initialSysIndex, sysStep, type SysIndex } from '../streams/broker-stats.js'
import { nullableNumber, nullableString, sessionIdField, withSession } from './common.js'
import { defineTool } from './tool.js'
import { runWindow } from './window.js'

const SYS_FILTER = '$SYS/#'

const input = object(
  {
    session_id: sessionIdField,
    duration_seconds: optional(
      described(int(1, 60), 'How long to listen to $SYS/#, in seconds. Mosquitto publishes every sys_interval (10 s by default), EMQX every minute; retained values arrive at once.'),
      5,
    ),
  },
  'mqtt_broker_stats',
)

const output = object({
  session_id: t.string,
  broker: t.keyof({ mosquitto: null, aedes: null, emqx: null, hivemq: null, unknown: null }),
  version: nullableString,
  uptime_seconds: nullableNumber,
  clients_connected: nullableNumber,
  messages_received_per_second: nullableNumber,
  messages_sent_per_second: nullableNumber,
  bytes_received_per_second: nullableNumber,
  bytes_sent_per_second: nullableNumber,
  subscriptions: nullableNumber,
  retained_messages: nullableNumber,
  dropped_messages: nullableNumber,
  sys_topics: t.number,
  raw: t.array(object({ topic: t.string, value: t.string, retained: t.boolean })),
  raw_truncated: t.boolean,
  stopped_by: t.keyof({ duration: null, limit: null, cancelled: null, closed: null }),
  notes: t.array(t.string),
})

export const brokerStats = defineTool({
  name: 'mqtt_broker_stats',
  title: 'Broker statistics from $SYS',
  description: [
    'Listens to $SYS/# (QoS 0) for duration_seconds (5, 1..60) and maps what the broker publishes to one shape: broker (mosquitto | aedes | emqx | hivemq | unknown), version, uptime_seconds, clients_connected, messages and bytes received/sent per second, subscriptions, retained_messages, dropped_messages (total since start); null where the broker publishes no such figure.',
    'raw lists the $SYS topics seen with their latest values (at most 200). notes say plainly when the broker published no $SYS at all (RabbitMQ, HiveMQ without a plugin, ACL) or only a stale retained snapshot; Mosquitto publishes every sys_interval (10 s by default), so a longer duration may be needed.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (args, ctx) =>
    withSession(ctx, args.session_id, async (session) => {
      // QoS 0 like every discovery (NOTES.md); retained values are kept: Mosquitto's $SYS topics are retained
      const window = await runWindow<SysIndex>(
        ctx,
        session.subscribe(SYS_FILTER, 0),
        { durationMs: args.duration_seconds * 1000, limit: Number.MAX_SAFE_INTEGER },
        sysStep,
        () => initialSysIndex(),
        (n) => `${n} $SYS messages`,
      )
      if (E.isLeft(window)) {
        // a broker that refuses $SYS/# has no statistics for us: that is the answer, not a failure
        if (window.left._tag !== 'SubscribeRejected') return window
        const view = brokerStatsView(initialSysIndex(), { durationSeconds: args.duration_seconds })
        return E.right({
          session_id: session.id,
          ...view,
          stopped_by: 'duration' as const,
          notes: [`The broker refused the subscription to ${SYS_FILTER} (${window.left.message}); it does not offer $SYS to this client.`],
        })
      }
      const w = window.right
      const result = { session_id: session.id, ...brokerStatsView(w.state, { durationSeconds: args.duration_seconds }), stopped_by: w.stoppedBy }
      // raw is capped at 200 topics, but long values (EMQX client events) could still pass the output budget
      const budget = Math.floor(ctx.config.outputBudgetChars * 0.9)
      while (result.raw.length > 0 && JSON.stringify(result).length > budget) {
        result.raw = result.raw.slice(0, Math.floor(result.raw.length / 2))
        result.raw_truncated = true
      }
      return E.right(result)
    }),
})
