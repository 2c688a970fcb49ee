/** MCP prompts: ready-made walks through the tools for the two jobs people bring most often. */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { ErrorCode, GetPromptRequestSchema, ListPromptsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js'

interface PromptArg {
  readonly name: string
  readonly description: string
  readonly required: boolean
}

interface PromptDef {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly arguments: readonly PromptArg[]
  readonly text: (args: Record<string, string>) => string
}

const connectStep = (args: Record<string, string>): string =>
  args['connection_string'] !== undefined && args['connection_string'] !== ''
    ? `1. Open a session with mqtt_establish_connection (connection_string: ${JSON.stringify(args['connection_string'])}). If it fails, run mqtt_test_connection with the same connection_string and explain which layer failed.`
    : '1. Use the open session (mqtt_list_active_connections), or the configured default broker by leaving session_id out. If none is available, ask me for the broker URL and open one with mqtt_establish_connection.'

const prompts: readonly PromptDef[] = [
  {
    name: 'explore_broker',
    title: 'Explore an MQTT broker',
    description: 'Discover what a broker carries, sample its traffic and summarise it.',
    arguments: [
      { name: 'connection_string', description: 'Broker URL, e.g. mqtt://broker.local:1883 (leave empty to use the open or default session)', required: false },
      { name: 'focus', description: 'A topic filter or subject to concentrate on, e.g. zigbee2mqtt/# or "energy"', required: false },
    ],
    text: (args) =>
      [
        'Explore this MQTT broker and tell me what it carries.',
        connectStep(args),
        `2. Discover topics with mqtt_list_topics${args['focus'] ? ` (pattern: the filter that matches ${JSON.stringify(args['focus'])}, or # if it is not a filter)` : ' (pattern #, duration_seconds 5)'}; if branches come back folded, call again on the interesting branches.`,
        '3. Sample live traffic on the busiest branches with mqtt_subscribe_and_collect (duration_seconds 15–30) and read pruning.summary for value ranges.',
        '4. For the most important JSON topics, describe their payloads with mqtt_get_topic_schema.',
        '5. Check mqtt_broker_stats for broker identity and load.',
        '6. Summarise: the device families and naming styles (Zigbee2MQTT, Tasmota, Home Assistant, …), what each branch carries with example values and rates, retained state, anything offline or reporting errors, and what you would look at next. Do not publish anything.',
      ].join('\n'),
  },
  {
    name: 'debug_device',
    title: 'Debug one device',
    description: "Walk a device's topics, availability, heartbeats and errors, and say what is wrong.",
    arguments: [
      { name: 'device_id', description: 'The device id as it appears in topics, e.g. tasmota_pool_pump or living_room_temp', required: true },
      { name: 'connection_string', description: 'Broker URL (leave empty to use the open or default session)', required: false },
      { name: 'symptom', description: 'What the user sees, e.g. "goes offline at night"', required: false },
    ],
    text: (args) =>
      [
        `Debug the device ${JSON.stringify(args['device_id'])}${args['symptom'] ? `; the symptom is: ${args['symptom']}` : ''}.`,
        connectStep(args),
        `2. Run mqtt_debug_device with device_id ${JSON.stringify(args['device_id'])} (duration_seconds 60; longer if its heartbeat is slow). If no topic matches, use mqtt_list_topics to find how the device names its topics and retry with topic_pattern.`,
        '3. Read availability (current state and every transition: does a Last Will fire?), heartbeats (period, jitter, missed beats), the timeline of state changes and any errors.',
        '4. Where payloads matter, check them with mqtt_get_topic_schema or mqtt_subscribe_and_collect on the device topics.',
        '5. Only if I agree, test a command with mqtt_request_response or mqtt_publish_message (publishing may be refused by the server policy).',
        '6. Conclude: is the device healthy, what evidence says so, the likely cause of the symptom, and what to check or change next.',
      ].join('\n'),
  },
]

/** Registers the prompts on `server`. */
export function registerPrompts(server: Server): void {
  server.setRequestHandler(ListPromptsRequestSchema, () => ({
    prompts: prompts.map((p) => ({ name: p.name, title: p.title, description: p.description, arguments: [...p.arguments] })),
  }))
  server.setRequestHandler(GetPromptRequestSchema, (req) => {
    const p = prompts.find((x) => x.name === req.params.name)
    if (p === undefined) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt ${req.params.name}; prompts/list has explore_broker and debug_device.`)
    const args = req.params.arguments ?? {}
    const missing = p.arguments.filter((a) => a.required && (args[a.name] ?? '') === '')
    if (missing.length > 0) throw new McpError(ErrorCode.InvalidParams, `Missing argument ${missing.map((a) => a.name).join(', ')} for prompt ${p.name}.`)
    return { description: p.description, messages: [{ role: 'user' as const, content: { type: 'text' as const, text: p.text(args) } }] }
  })
}
