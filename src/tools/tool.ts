/**
 * The shape of one MCP tool: name, codec, description, annotations and a handler that is
 * decode → run → convert. `defineTool` erases the types so the server can list heterogeneous tools.
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import type { SchedulerLike } from 'rxjs'
import type { Config } from '../config.js'
import { fromUnknown, fromValidationErrors, type AppError } from '../errors.js'
import type { Logger } from '../log.js'
import { toJsonSchema, type JsonSchema } from '../mcp/codec.js'
import type { SessionAccess } from '../sessions/registry.js'

/** What a handler may use; one per call. */
export interface ToolContext {
  readonly registry: SessionAccess
  readonly config: Config
  readonly logger: Logger
  readonly scheduler: SchedulerLike
  /** Aborted when the client cancels the call (notifications/cancelled) or the server shuts down. */
  readonly signal: AbortSignal
  /** Reports progress (e.g. messages seen); a no-op unless the request carried a progressToken. */
  readonly progress: (progress: number, total?: number, message?: string) => void
}

export interface ToolAnnotations {
  readonly title?: string
  readonly readOnlyHint?: boolean
  readonly destructiveHint?: boolean
  readonly idempotentHint?: boolean
  readonly openWorldHint?: boolean
}

export interface ToolSpec<I, O> {
  readonly name: string
  readonly title: string
  /** What it does, when to use it, defaults, limits and units: the model reads this. */
  readonly description: string
  readonly input: t.Type<I, unknown, unknown>
  readonly output: t.Type<O, unknown, unknown>
  readonly annotations: ToolAnnotations
  readonly run: (input: I, ctx: ToolContext) => Promise<E.Either<AppError, O>>
}

/** A tool with its JSON Schemas derived and its types erased. */
export interface Tool {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly inputSchema: JsonSchema
  readonly outputSchema: JsonSchema
  readonly annotations: ToolAnnotations
  /** Decodes `args` and runs the handler; never throws. */
  readonly call: (args: unknown, ctx: ToolContext) => Promise<E.Either<AppError, unknown>>
}

/** Builds a Tool from its spec; the codec is the one source of truth for the input schema. */
export function defineTool<I, O>(spec: ToolSpec<I, O>): Tool {
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: toJsonSchema(spec.input),
    outputSchema: toJsonSchema(spec.output),
    annotations: { title: spec.title, ...spec.annotations },
    call: async (args, ctx) => {
      const decoded = spec.input.decode(args ?? {})
      if (E.isLeft(decoded)) return E.left(fromValidationErrors(decoded.left))
      try {
        return await spec.run(decoded.right, ctx)
      } catch (e) {
        return E.left(fromUnknown(e))
      }
    },
  }
}
