/** mqtt_publish_message: one PUBLISH with every encoding, QoS 0/1/2 with the broker's ack, retain and MQTT 5 properties. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { firstValueFrom, timer } from 'rxjs'
import * as err from '../errors.js'
import type { AppError } from '../errors.js'
import { described, int, object, oneOf, optional, str } from '../mcp/codec.js'
import { validateTopicName } from '../mqtt/topic.js'
import type { PublishAck, PublishOptions, QoS } from '../streams/types.js'
import { sessionIdField, withSession } from './common.js'
import { checkPublishAllowed, outgoingPayload, payloadFields } from './publish-policy.js'
import { defineTool } from './tool.js'

const input = object(
  {
    session_id: sessionIdField,
    topic: described(str(1, 65535), 'Topic to publish to: a concrete topic name, no + or # wildcards.'),
    ...payloadFields('The payload'),
    qos: optional(described(oneOf([0, 1, 2] as const), 'Quality of service 0, 1 or 2. With 1 and 2 the broker acknowledgement is returned.'), 0),
    retain: optional(described(t.boolean, 'Ask the broker to retain the message for future subscribers.'), false),
    content_type: optional(described(str(1, 1000), 'MQTT 5 Content Type, e.g. application/json.')),
    user_properties: optional(described(t.record(t.string, t.string), 'MQTT 5 User Properties as a string-to-string map.')),
    response_topic: optional(described(str(1, 65535), 'MQTT 5 Response Topic (no wildcards).')),
    correlation_data: optional(described(str(1, 65535), 'MQTT 5 Correlation Data, as UTF-8 text.')),
    message_expiry_seconds: optional(described(int(1, 4_294_967_295), 'MQTT 5 Message Expiry Interval in seconds.')),
    timeout_seconds: optional(described(int(1, 300), 'How long to wait for PUBACK / PUBCOMP at QoS 1 and 2, in seconds.'), 30),
  },
  'mqtt_publish_message',
)

const output = object({
  published: t.boolean,
  topic: t.string,
  bytes: t.number,
  qos: t.number,
  retain: t.boolean,
  ack: optional(object({ packet: t.string, reason_code: t.number, reason: t.string })),
  warnings: optional(t.array(t.string)),
})

export const publishMessage = defineTool({
  name: 'mqtt_publish_message',
  title: 'Publish an MQTT message',
  description: [
    'Publishes one message. payload_encoding utf8 (default), json (must parse), base64 or hex; qos 0 (default), 1 or 2 returns the broker ack (PUBACK / PUBCOMP) within timeout_seconds (30); retain false by default.',
    'MQTT 5 sessions also send content_type, user_properties, response_topic, correlation_data and message_expiry_seconds (ignored, with a warning, on 3.1.1).',
    'Payload limit 1 MiB unless configured. Refused with PUBLISH_DENIED in read-only mode or outside the allowed topics; nothing is queued while the session reconnects (NOT_CONNECTED).',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  run: async (args, ctx) => {
    const topicOk = validateTopicName(args.topic)
    if (E.isLeft(topicOk)) return E.left(err.invalidTopic({ message: `topic: ${topicOk.left}`, field: 'topic', topic: args.topic }))
    if (args.response_topic !== undefined) {
      const rt = validateTopicName(args.response_topic)
      if (E.isLeft(rt)) return E.left(err.invalidTopic({ message: `response_topic: ${rt.left}`, field: 'response_topic', topic: args.response_topic }))
    }
    const allowed = checkPublishAllowed(ctx.config, args.topic)
    if (E.isLeft(allowed)) return allowed
    const bytes = outgoingPayload(ctx.config, args.payload, args.payload_encoding)
    if (E.isLeft(bytes)) return bytes
    const payload = bytes.right
    return withSession(ctx, args.session_id, async (session) => {
      const v5 = session.protocolVersion === 5
      const warnings: string[] = []
      const props: Required<PublishOptions>['properties'] = {
        ...(args.content_type !== undefined ? { contentType: args.content_type } : {}),
        ...(args.user_properties !== undefined ? { userProperties: args.user_properties } : {}),
        ...(args.response_topic !== undefined ? { responseTopic: args.response_topic } : {}),
        ...(args.correlation_data !== undefined ? { correlationData: Buffer.from(args.correlation_data, 'utf8') } : {}),
        ...(args.message_expiry_seconds !== undefined ? { messageExpiryInterval: args.message_expiry_seconds } : {}),
      }
      const hasProps = Object.keys(props).length > 0
      if (hasProps && !v5) warnings.push(`MQTT 5 properties (${Object.keys(props).join(', ')}) were not sent: this session speaks MQTT 3.1.1.`)
      const maxQos = session.connack?.maximumQoS
      if (maxQos !== undefined && args.qos > maxQos) {
        return E.left(err.qosNotSupported({ message: `The broker accepts at most QoS ${maxQos} (CONNACK Maximum QoS); QoS ${args.qos} was asked for.`, qos: args.qos }))
      }
      if (args.retain && session.connack?.retainAvailable === false) {
        return E.left(err.publishFailed({ message: 'The broker does not support retained messages (CONNACK Retain Available = 0).', hint: 'Publish with retain false.' }))
      }
      const sent = session.publish(args.topic, payload, { qos: args.qos as QoS, retain: args.retain, ...(hasProps && v5 ? { properties: props } : {}) })
      const timeout = firstValueFrom(timer(args.timeout_seconds * 1000, ctx.scheduler)).then(
        (): E.Either<AppError, PublishAck | undefined> =>
          E.left(err.publishFailed({ message: `No ${args.qos === 1 ? 'PUBACK' : 'PUBCOMP'} within ${args.timeout_seconds} s; the broker may or may not have the message.` })),
      )
      const result = await Promise.race([sent, timeout])
      if (E.isLeft(result)) return result
      const ack = result.right
      return E.right({
        published: true,
        topic: args.topic,
        bytes: payload.length,
        qos: args.qos,
        retain: args.retain,
        ...(ack !== undefined ? { ack: { packet: ack.packet, reason_code: ack.reasonCode, reason: ack.reason } } : {}),
        ...(warnings.length > 0 ? { warnings } : {}),
      })
    })
  },
})
