/** Every tool this server offers, in the order tools/list shows them. */
import { closeConnection } from './close-connection.js'
import { establishConnection } from './establish-connection.js'
import { getTopicSchema } from './get-topic-schema.js'
import { listActiveConnections } from './list-active-connections.js'
import { listTopics } from './list-topics.js'
import { publishMessage } from './publish-message.js'
import { subscribeAndCollect } from './subscribe-and-collect.js'
import type { Tool } from './tool.js'

export const tools: readonly Tool[] = [
  establishConnection,
  listActiveConnections,
  closeConnection,
  listTopics,
  subscribeAndCollect,
  getTopicSchema,
  publishMessage,
]
