/** One received message as tools and resources show it: payload decoded and capped, MQTT 5 properties as JSON. */
import { showPayload, utf8OrUndefined } from '../mqtt/payload.js'
import type { Message } from '../streams/types.js'
import * as t from 'io-ts'
import { object, optional } from '../mcp/codec.js'

export const messageViewCodec = object({
  topic: t.string,
  payload: t.unknown,
  encoding: t.keyof({ json: null, text: null, base64: null }),
  size_bytes: t.number,
  truncated: optional(t.boolean),
  qos: t.number,
  retain: t.boolean,
  received_at: t.string,
  properties: optional(t.UnknownRecord),
})

export type MessageView = t.TypeOf<typeof messageViewCodec>

/** Shows a message with at most `maxPayloadBytes` bytes of its payload. */
export function messageView(m: Message, maxPayloadBytes: number): MessageView {
  const shown = showPayload(m.payload, maxPayloadBytes, m.cut)
  const p = m.properties
  let properties: Record<string, unknown> | undefined
  if (p !== undefined) {
    properties = {
      ...(p.contentType !== undefined ? { content_type: p.contentType } : {}),
      ...(p.userProperties !== undefined ? { user_properties: p.userProperties } : {}),
      ...(p.responseTopic !== undefined ? { response_topic: p.responseTopic } : {}),
      ...(p.correlationData !== undefined ? { correlation_data: correlation(p.correlationData) } : {}),
      ...(p.messageExpiryInterval !== undefined ? { message_expiry_seconds: p.messageExpiryInterval } : {}),
      ...(p.payloadFormatIndicator !== undefined ? { payload_format_indicator: p.payloadFormatIndicator ? 'utf8' : 'bytes' } : {}),
    }
  }
  return {
    topic: m.topic,
    payload: shown.payload,
    encoding: shown.encoding,
    size_bytes: shown.size_bytes,
    ...(shown.truncated ? { truncated: true } : {}),
    qos: m.qos,
    retain: m.retain,
    received_at: new Date(m.receivedAt).toISOString(),
    ...(properties !== undefined ? { properties } : {}),
  }
}

const correlation = (b: Buffer): string | { base64: string } => {
  const text = utf8OrUndefined(b)
  return text !== undefined ? text : { base64: b.toString('base64') }
}
