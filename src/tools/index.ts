/** Every tool this server offers, in the order tools/list shows them: sessions, reading, writing. */
import { brokerStats } from './broker-stats.js'
import { closeConnection } from './close-connection.js'
import { debugDevice } from './debug-device.js'
import { establishConnection } from './establish-connection.js'
import { getTopicSchema } from './get-topic-schema.js'
import { listActiveConnections } from './list-active-connections.js'
import { listTopics } from './list-topics.js'
import { monitorPerformance } from './monitor-performance.js'
import { publishMessage } from './publish-message.js'
import { requestResponse } from './request-response.js'
import { retainedMessages } from './retained-messages.js'
import { subscribeAndCollect } from './subscribe-and-collect.js'
import { testConnection } from './test-connection.js'
import type { Tool } from './tool.js'

export const tools: readonly Tool[] = [
  establishConnection,
  listActiveConnections,
  closeConnection,
  testConnection,
  listTopics,
  subscribeAndCollect,
  getTopicSchema,
  debugDevice,
  monitorPerformance,
  retainedMessages,
  brokerStats,
  publishMessage,
  requestResponse,
]
