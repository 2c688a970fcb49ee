/** The server's publish policy (configuration, not tool input): read-only mode and the topic allow-list. */
import * as E from 'fp-ts/lib/Either.js'
import type { Config } from '../config.js'
import { publishDenied, type AppError } from '../errors.js'
import { topicMatches } from '../mqtt/topic.js'

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
