/** Pieces every tool shares: the optional session_id field and running a handler on a resolved session. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import type { AppError } from '../errors.js'
import { described, optional, str } from '../mcp/codec.js'
import type { Session } from '../sessions/session.js'
import type { ToolContext } from './tool.js'

/** The optional session_id parameter. */
export const sessionIdField = optional(
  described(
    str(1, 200),
    'Session to use, as returned by mqtt_establish_connection. Leave out when exactly one session is open or a default broker is configured (its session opens on first use).',
  ),
)

/** Runs `f` on the session the call names (or implies), marking the session in use meanwhile. */
export async function withSession<A>(
  ctx: ToolContext,
  sessionId: string | undefined,
  f: (session: Session) => Promise<E.Either<AppError, A>>,
): Promise<E.Either<AppError, A>> {
  const resolved = await ctx.registry.resolve(sessionId)
  if (E.isLeft(resolved)) return resolved
  const session = resolved.right
  session.inUse++
  session.touch()
  try {
    return await f(session)
  } finally {
    session.inUse--
    session.touch()
  }
}

/** `string | null` in output schemas. */
export const nullableString = t.union([t.string, t.null])
/** `number | null` in output schemas. */
export const nullableNumber = t.union([t.number, t.null])
