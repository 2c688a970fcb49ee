/** What every publishing tool shares: the publish policy (read-only mode, allow-list) and the outgoing payload. */
import * as E from 'fp-ts/lib/Either.js'
import type { Config } from '../config.js'
import * as t from 'io-ts'
import { invalidInput, payloadTooLarge, publishDenied, type AppError } from '../errors.js'
import { described, oneOf, optional } from '../mcp/codec.js'
import { encodePayload, type PayloadEncoding } from '../mqtt/payload.js'
import { topicMatches } from '../mqtt/topic.js'

/** The payload parameters of every tool that publishes. */
export const payloadFields = (what: string) => ({
  payload: optional(described(t.string, `${what} as text in payload_encoding; empty allowed.`), ''),
  payload_encoding: optional(
    described(oneOf(['utf8', 'json', 'base64', 'hex'] as const), 'How to read payload: utf8 text, json (checked to parse), base64 or hex bytes.'),
    'utf8',
  ),
})

/** The bytes to publish, or INVALID_INPUT naming payload / PAYLOAD_TOO_LARGE with the configured limit. */
export function outgoingPayload(config: Pick<Config, 'maxPayloadBytes'>, payload: string, encoding: PayloadEncoding): E.Either<AppError, Buffer> {
  const bytes = encodePayload(payload, encoding)
  if (E.isLeft(bytes)) return E.left(invalidInput({ message: `payload: ${bytes.left}`, fields: [{ field: 'payload', expected: bytes.left }] }))
  if (bytes.right.length > config.maxPayloadBytes) {
    return E.left(
      payloadTooLarge({
        message: `The payload has ${bytes.right.length} bytes; this server publishes at most ${config.maxPayloadBytes} (MQTT_MCP_MAX_PAYLOAD_BYTES).`,
        bytes: bytes.right.length,
        limit: config.maxPayloadBytes,
      }),
    )
  }
  return bytes
}

/** Right when the model may write to `topic`; PUBLISH_DENIED naming the rule otherwise. */
export function checkPublishAllowed(config: Pick<Config, 'readOnly' | 'publishAllow'>, topic: string): E.Either<AppError, void> {
  if (config.readOnly) {
    return E.left(
      publishDenied({
        message: 'This server runs in read-only mode: it does not publish or clear retained messages.',
        rule: 'read-only (MQTT_MCP_READ_ONLY)',
      }),
    )
  }
  if (config.publishAllow.length > 0 && !config.publishAllow.some((f) => topicMatches(f, topic))) {
    return E.left(
      publishDenied({
        message: `Publishing to '${topic}' is not allowed: it matches none of the allowed filters ${config.publishAllow.join(', ')}.`,
        rule: `allow-list (MQTT_MCP_PUBLISH_ALLOW=${config.publishAllow.join(',')})`,
        hint: `Publish to a topic under ${config.publishAllow.join(' or ')}, or ask the user to extend MQTT_MCP_PUBLISH_ALLOW.`,
      }),
    )
  }
  return E.right(undefined)
}
