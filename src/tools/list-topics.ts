/** mqtt_list_topics: topic discovery with one wildcard subscription at QoS 0, answered as a tree that fits the budget. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { described, int, object, optional, str } from '../mcp/codec.js'
import { indexStep, initialTopicIndex, renderTree, type TopicIndex } from '../streams/topic-tree.js'
import { nullableString, sessionIdField, withSession } from './common.js'
import { defineTool } from './tool.js'
import { gapsBetween, runWindow, subscribeAll, validateFilters } from './window.js'

const input = object(
  {
    session_id: sessionIdField,
    pattern: optional(described(str(1, 65535), 'Topic filter to discover below, e.g. # (everything) or zigbee2mqtt/#.'), '#'),
    duration_seconds: optional(described(int(1, 300), 'How long to listen, in seconds. Retained topics arrive at once; live ones need time.'), 5),
    max_topics: optional(described(int(1, 100_000), 'Stop indexing new topics after this many (truncated: true).'), 1000),
    include_system: optional(described(t.boolean, 'Also subscribe to $SYS/# (broker statistics topics).'), false),
    depth: optional(described(int(1, 32), 'Aggregate below this level: nodes at this depth are shown folded with their counts.')),
  },
  'mqtt_list_topics',
)

const output = object({
  session_id: t.string,
  pattern: t.string,
  topic_count: t.number,
  message_count: t.number,
  retained_count: t.number,
  stopped_by: t.keyof({ duration: null, limit: null, cancelled: null, closed: null }),
  truncated: t.boolean,
  folded: t.boolean,
  tree: described(
    t.array(t.UnknownRecord),
    'Root nodes: { name, path, topics, messages, retained, last_seen, kind?, sample?, children? | folded: true }. A folded node named + (path parent/+) sums the children of its parent that are not shown; # at the top sums everything.',
  ),
  interruptions: t.array(object({ start: t.string, end: nullableString, error: t.string })),
  notes: t.array(t.string),
})

const FOLDED_NOTE =
  'Some branches are folded to fit the output budget (folded: true, with their counts; a node named + sums the rest of its level); call again with a narrower pattern to open them.'
/** Mosquitto's default per-client queue (max_queued_messages): a retained replay beyond it can lose QoS 0 messages. */
const LARGE_REPLAY = 1000
const LARGE_REPLAY_NOTE =
  'Many retained messages arrived at once: a broker with a per-client queue limit (Mosquitto max_queued_messages, 1000 by default) drops what a subscriber cannot take fast enough, so some retained topics may be missing; a second call or a narrower pattern shows whether counts change.'
const NO_RETAINED_NOTE =
  'No retained messages were seen. Some brokers (RabbitMQ) do not deliver retained messages to wildcard subscriptions.'

export const listTopics = defineTool({
  name: 'mqtt_list_topics',
  title: 'Discover MQTT topics',
  description: [
    'Discovers topics below pattern (default #) by listening for duration_seconds (5, max 300) with one wildcard subscription at QoS 0; $SYS/# only with include_system.',
    'Returns topic_count, message_count, retained_count and a tree: each node has its topic and live message counts, retained count, last_seen, and on topics the payload kind (json/text/number/binary/empty) and a short sample.',
    'The biggest branches (most topics and live messages) are shown first; branches that do not fit the output budget are folded with their counts (folded: true), and when a level has more children than fit, the rest of them are summed in one folded node named + (path parent/+).',
    'With depth, every node at that level is folded. Retained messages delivered on subscribe are marked retained, not counted as live traffic.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (args, ctx) => {
    const named = [{ field: 'pattern', filter: args.pattern }]
    if (args.include_system) named.push({ field: 'include_system', filter: '$SYS/#' })
    const filters = validateFilters(named)
    if (E.isLeft(filters)) return filters
    return withSession(ctx, args.session_id, async (session) => {
      let index: TopicIndex | undefined
      const window = await runWindow<TopicIndex>(
        ctx,
        // QoS 0: at QoS 1 Mosquitto's queue limits deliver only ~1,000 of 10,000 retained messages (NOTES.md)
        subscribeAll(session, filters.right, 0),
        { durationMs: args.duration_seconds * 1000, limit: Number.MAX_SAFE_INTEGER },
        indexStep,
        () => (index = initialTopicIndex({ maxTopics: args.max_topics })),
        (n) => `${n} messages, ${index?.topics.size ?? 0} topics`,
      )
      if (E.isLeft(window)) return window
      const w = window.right
      const topics = w.state.topics.size
      const notes: string[] = []
      if (w.state.truncated) notes.push(`Stopped indexing at max_topics (${args.max_topics}); raise it or narrow pattern to see the rest.`)
      // the notes that depend on the tree are in while sizing it, and dropped below when they do not apply
      if (topics > 0) notes.push(FOLDED_NOTE, NO_RETAINED_NOTE, LARGE_REPLAY_NOTE)
      else notes.push(`Nothing was published below ${args.pattern} in ${args.duration_seconds} s and nothing is retained there.`)
      const interruptions = gapsBetween(session, w.startedAt, w.endedAt)
      // the answer is this frame plus the tree's JSON: the tree gets what the frame leaves of the budget
      const frame = JSON.stringify({ session_id: session.id, pattern: args.pattern, stopped_by: w.stoppedBy, interruptions, notes }).length
      const treeChars = Math.floor(ctx.config.outputBudgetChars * 0.95) - frame
      const tree = renderTree(w.state, {
        // renderTree keeps its JSON within 90% of budgetChars
        budgetChars: Math.max(1, Math.floor(treeChars / 0.9)),
        ...(args.depth !== undefined ? { depth: args.depth } : {}),
      })
      const shownNotes = notes.filter(
        (n) => (n !== FOLDED_NOTE || tree.folded) && (n !== NO_RETAINED_NOTE || tree.retained_count === 0) && (n !== LARGE_REPLAY_NOTE || tree.retained_count > LARGE_REPLAY),
      )
      return E.right({
        session_id: session.id,
        pattern: args.pattern,
        topic_count: tree.topic_count,
        message_count: tree.message_count,
        retained_count: tree.retained_count,
        stopped_by: w.stoppedBy,
        truncated: tree.truncated,
        folded: tree.folded,
        tree: tree.tree as unknown as Array<Record<string, unknown>>,
        interruptions,
        notes: shownNotes,
      })
    })
  },
})
