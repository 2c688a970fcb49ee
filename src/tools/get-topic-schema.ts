/** mqtt_get_topic_schema: samples a topic filter for a window and describes its payloads (formats and JSON Schema). */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { described, int, object, optional, str } from '../mcp/codec.js'
import { initialSchema, schemaResult, schemaStep, type SchemaResult, type SchemaState } from '../streams/schema.js'
import { nullableString, sessionIdField, withSession } from './common.js'
import { defineTool } from './tool.js'
import { gapsBetween, runWindow, subscribeAll, validateFilters } from './window.js'

/** Topics that get a description of their own; beyond this a filter like # is a survey, not one payload type. */
const MAX_TOPICS = 50
/** Nesting levels described below a payload's root (the reducer's default), the first thing the budget may cut. */
const MAX_DEPTH = 8

const input = object(
  {
    session_id: sessionIdField,
    topic: described(str(1, 65535), 'Topic filter to sample, e.g. zigbee2mqtt/living_room_temp or sensors/+/state (wildcards allowed).'),
    duration_seconds: optional(described(int(1, 300), 'How long to sample, in seconds.'), 30),
    min_samples: optional(described(int(1, 10_000), 'Samples needed before confidence rises above low (medium from this, high from 5× this).'), 10),
    max_samples: optional(described(int(1, 10_000), 'Stop sampling after this many messages.'), 500),
  },
  'mqtt_get_topic_schema',
)

const formats = described(t.record(t.string, t.number), 'Messages per payload format: json, number, boolean, text, xml, binary, empty (formats not seen are left out).')
const schema = described(
  t.union([t.UnknownRecord, t.null]),
  'JSON Schema (draft 2020-12) of the payload values (JSON, numeric and true/false text), or null when no payload had one.',
)

const output = object({
  session_id: t.string,
  topic: t.string,
  samples: t.number,
  topic_count: t.number,
  stopped_by: t.keyof({ duration: null, limit: null, cancelled: null, closed: null }),
  formats,
  schema,
  per_topic: described(
    t.array(object({ topic: t.string, samples: t.number, formats, schema })),
    'One entry per topic, most samples first, only when the matched topics differ in shape; empty otherwise.',
  ),
  confidence: t.keyof({ low: null, medium: null, high: null }),
  score: t.number,
  truncated: t.boolean,
  interruptions: t.array(object({ start: t.string, end: nullableString, error: t.string })),
  notes: t.array(t.string),
})

type Fitted = Pick<SchemaResult, 'schema' | 'per_topic'> & { notes: string[]; truncated: boolean }

/**
 * Renders the state so the result fits `budget` characters. Cuts in order of what the model misses least:
 * examples (the types and ranges stay), then per-topic entries (halved, fewest samples dropped first; the
 * overall schema still covers them), then description depth, level by level from the deepest.
 */
function fitToBudget<B extends object>(state: SchemaState, minSamples: number, build: (f: Fitted) => B, budget: number): B {
  let examples = true
  let shown = Infinity
  let depth = MAX_DEPTH
  for (;;) {
    const r = schemaResult(state, { minSamples, examples, depth })
    const notes: string[] = []
    if (!examples) notes.push('Examples were left out to fit the output budget.')
    if (shown < r.per_topic.length) {
      notes.push(`per_topic shows ${shown} of ${r.per_topic.length} topics (most samples first) to fit the output budget; narrow topic to see the others.`)
    }
    if (depth < MAX_DEPTH) notes.push(`Schemas describe ${depth} levels below the root to fit the output budget; x-depth-limited marks where they stop.`)
    const fitted = { schema: r.schema, per_topic: r.per_topic.slice(0, shown), notes, truncated: notes.length > 0 }
    const body = build(fitted)
    if (JSON.stringify(body).length <= budget) return body
    if (examples) examples = false
    else if (r.per_topic.length > 0 && shown > 0) shown = Math.floor(Math.min(shown, r.per_topic.length) / 2)
    else if (depth > 0) depth--
    else return build({ schema: null, per_topic: [], notes: ['The schema does not fit the output budget even without its fields: formats only.'], truncated: true })
  }
}

function notesOf(r: SchemaResult, args: { topic: string; duration_seconds: number; min_samples: number; max_samples: number }, stoppedBy: string): string[] {
  const notes: string[] = []
  if (r.samples === 0) notes.push(`Nothing was published on ${args.topic} in ${args.duration_seconds} s and nothing is retained there.`)
  else if (r.confidence === 'low') {
    notes.push(`Only ${r.samples} samples (min_samples ${args.min_samples}): optional fields, rare values and ranges may be missing; sample longer (duration_seconds) for more.`)
  }
  if (args.min_samples > args.max_samples) notes.push(`min_samples (${args.min_samples}) is above max_samples (${args.max_samples}): confidence cannot rise above low.`)
  if (stoppedBy === 'limit') notes.push(`Stopped at max_samples (${args.max_samples}).`)
  const valueless = (r.formats.text ?? 0) + (r.formats.xml ?? 0) + (r.formats.binary ?? 0) + (r.formats.empty ?? 0)
  if (r.schema !== null && valueless > 0) {
    notes.push(`The schema describes the ${r.samples - valueless} payloads with a value (JSON, numeric or true/false text); the ${valueless} text, xml, binary or empty payloads are counted in formats only.`)
  }
  if (r.shapes_differ) notes.push(`The ${r.topic_count} matched topics differ in shape: schema merges them all, per_topic describes each.`)
  if (r.topics_cut) {
    notes.push(`Only the first ${MAX_TOPICS} topics were told apart; ${r.untracked_messages} messages on later topics count in the overall schema only.`)
  }
  return notes
}

export const getTopicSchema = defineTool({
  name: 'mqtt_get_topic_schema',
  title: 'Infer the payload schema of an MQTT topic',
  description: [
    'Samples a topic filter at QoS 0 (retained messages included) until duration_seconds (30, 1..300) pass, max_samples (500, 1..10000) messages arrive, or the call is cancelled, and describes the payloads.',
    'Returns formats (messages per format: json, number, boolean, text, xml, binary, empty) and schema: a JSON Schema (draft 2020-12) inferred across all samples from every JSON value (numeric and true/false text count as values; null when there are none):',
    'nested objects and arrays, types per field (unions when they vary), required (fields in every sample), x-presence (share of samples with the field, 0..1), minimum / maximum / x-mean, integer when every value was whole,',
    'enum for strings with few distinct values (at most 10, seen at least twice each on average), and up to 3 examples.',
    'When the filter matches topics of different shapes, per_topic describes each (first 50 topics, most samples first).',
    'confidence is low below min_samples (10) samples, medium below 5× that, high from there; score grows from 0 towards 1 with the sample count (0.5 at min_samples).',
    'Results fit the output budget by dropping examples, then per-topic entries, then depth (truncated: true, and notes say what).',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (args, ctx) => {
    const filters = validateFilters([{ field: 'topic', filter: args.topic }])
    if (E.isLeft(filters)) return filters
    return withSession(ctx, args.session_id, async (session) => {
      const window = await runWindow<SchemaState>(
        ctx,
        // QoS 0 as for discovery: sampling needs no delivery guarantee, and QoS 1 queues limit retained replays (NOTES.md)
        subscribeAll(session, filters.right, 0),
        { durationMs: args.duration_seconds * 1000, limit: args.max_samples },
        schemaStep,
        () => initialSchema({ maxTopics: MAX_TOPICS, maxDepth: MAX_DEPTH }),
        (n) => `${n} samples`,
      )
      if (E.isLeft(window)) return window
      const w = window.right
      const full = schemaResult(w.state, { minSamples: args.min_samples })
      const notes = notesOf(full, args, w.stoppedBy)
      const base = {
        session_id: session.id,
        topic: args.topic,
        samples: full.samples,
        topic_count: full.topic_count,
        stopped_by: w.stoppedBy,
        formats: full.formats as Record<string, number>,
        confidence: full.confidence,
        score: full.score,
        interruptions: gapsBetween(session, w.startedAt, w.endedAt),
      }
      const build = (f: Fitted) => ({
        ...base,
        schema: f.schema,
        per_topic: f.per_topic.map((p) => ({ ...p, formats: p.formats as Record<string, number> })),
        truncated: f.truncated,
        notes: [...notes, ...f.notes],
      })
      return E.right(fitToBudget(w.state, args.min_samples, build, Math.floor(ctx.config.outputBudgetChars * 0.95)))
    })
  },
})
