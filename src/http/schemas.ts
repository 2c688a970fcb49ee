/**
 * JSON Schemas of the HTTP API's responses. Fastify serializes with them (fast-json-stringify: only the
 * declared fields go out, so nothing undeclared can leak) and tests validate responses against them.
 */

const nullable = (type: 'string' | 'number' | 'integer') => ({ type: [type, 'null'] }) as const

/** One error: `{ error: { code, message } }` (codes are stable: SESSION_NOT_FOUND, FORBIDDEN_HOST, …). */
export const errorSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const

/** A session as mqtt_list_active_connections shows it (SessionInfo). */
export const sessionInfoSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'session_id', 'name', 'broker', 'client_id', 'protocol_version', 'state', 'reconnects', 'last_error',
    'created_at', 'last_used_at', 'expires_at', 'subscriptions', 'messages_received', 'bytes_received',
  ],
  properties: {
    session_id: { type: 'string' },
    name: nullable('string'),
    broker: { type: 'string' },
    client_id: { type: 'string' },
    protocol_version: nullable('integer'),
    state: { type: 'string', enum: ['connecting', 'connected', 'reconnecting', 'closed'] },
    reconnects: { type: 'integer' },
    last_error: nullable('string'),
    created_at: { type: 'string' },
    last_used_at: { type: 'string' },
    expires_at: { type: 'string' },
    subscriptions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filter', 'qos', 'granted', 'shared_by'],
        properties: { filter: { type: 'string' }, qos: { type: 'integer' }, granted: nullable('integer'), shared_by: { type: 'integer' } },
      },
    },
    messages_received: { type: 'integer' },
    bytes_received: { type: 'integer' },
  },
} as const

/** One tool call (ToolCallRecord); `args` is already redacted and shown as it is. */
export const toolCallSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'tool', 'started_at', 'args', 'outcome', 'duration_ms', 'code'],
  properties: {
    id: { type: 'integer' },
    tool: { type: 'string' },
    started_at: { type: 'string' },
    args: {},
    outcome: { type: 'string', enum: ['running', 'ok', 'error'] },
    duration_ms: nullable('number'),
    code: nullable('string'),
  },
} as const

/** GET /health */
export const healthSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'version', 'uptime_seconds'],
  properties: { status: { type: 'string', enum: ['ok'] }, version: { type: 'string' }, uptime_seconds: { type: 'integer' } },
} as const

const counter = { type: 'integer', minimum: 0 } as const

/** GET /api/status */
export const statusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'uptime_seconds', 'memory', 'sessions', 'tool_calls', 'messages', 'feed'],
  properties: {
    version: { type: 'string' },
    uptime_seconds: { type: 'integer' },
    memory: {
      type: 'object',
      additionalProperties: false,
      required: ['rss_bytes', 'heap_used_bytes'],
      properties: { rss_bytes: counter, heap_used_bytes: counter },
    },
    sessions: {
      type: 'object',
      additionalProperties: false,
      required: ['total', 'by_state'],
      properties: {
        total: counter,
        by_state: {
          type: 'object',
          additionalProperties: false,
          required: ['connecting', 'connected', 'reconnecting', 'closed'],
          properties: { connecting: counter, connected: counter, reconnecting: counter, closed: counter },
        },
      },
    },
    tool_calls: {
      type: 'object',
      additionalProperties: false,
      required: ['total', 'errors', 'by_tool'],
      properties: {
        total: counter,
        errors: counter,
        by_tool: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['calls', 'errors'],
            properties: { calls: counter, errors: counter },
          },
        },
      },
    },
    messages: {
      type: 'object',
      additionalProperties: false,
      required: ['received_total', 'per_second'],
      properties: { received_total: counter, per_second: { type: 'number', minimum: 0 } },
    },
    /** Live feed clients now, and clients closed because they fell behind (their socket buffer passed the bound). */
    feed: {
      type: 'object',
      additionalProperties: false,
      required: ['clients', 'dropped_clients'],
      properties: { clients: counter, dropped_clients: counter },
    },
  },
} as const

/** GET /api/sessions */
export const sessionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sessions', 'max_sessions'],
  properties: { sessions: { type: 'array', items: sessionInfoSchema }, max_sessions: { type: 'integer' } },
} as const

/** One node of a topic tree (recursive through `children`). */
const topicTreeNodeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'path', 'topics', 'messages', 'retained', 'last_seen'],
  properties: {
    name: { type: 'string' },
    path: { type: 'string' },
    topics: counter,
    messages: counter,
    retained: counter,
    last_seen: nullable('string'),
    kind: { type: 'string', enum: ['json', 'text', 'number', 'binary', 'empty'] },
    sample: { type: 'string' },
    children: { type: 'array', items: { $ref: '#/definitions/topicTreeNode' } },
    folded: { type: 'boolean', enum: [true] },
  },
} as const

/** GET /api/sessions/:id */
export const sessionDetailSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['session', 'topics'],
  definitions: { topicTreeNode: topicTreeNodeSchema },
  properties: {
    session: sessionInfoSchema,
    topics: {
      type: 'object',
      additionalProperties: false,
      required: ['topic_count', 'message_count', 'retained_count', 'truncated', 'folded', 'tree'],
      properties: {
        topic_count: counter,
        message_count: counter,
        retained_count: counter,
        truncated: { type: 'boolean' },
        folded: { type: 'boolean' },
        tree: { type: 'array', items: { $ref: '#/definitions/topicTreeNode' } },
      },
    },
  },
} as const

/** GET /api/tool-calls */
export const toolCallsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['calls'],
  properties: { calls: { type: 'array', items: toolCallSchema } },
} as const
