/** mqtt_close_connection: sends DISCONNECT, ends the session's windows and forgets its credentials. */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { described, object, str } from '../mcp/codec.js'
import { defineTool } from './tool.js'

export const closeConnection = defineTool({
  name: 'mqtt_close_connection',
  title: 'Close an MQTT session',
  description:
    'Closes a session: sends DISCONNECT, ends its running collection windows (they return what they gathered, stopped_by "closed") and forgets its credentials.',
  input: object({ session_id: described(str(1, 200), 'The session to close.') }, 'mqtt_close_connection'),
  output: object({ closed: t.boolean, session_id: t.string, messages_received: t.number }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  run: async (args, ctx) => {
    const closed = await ctx.registry.close(args.session_id)
    if (E.isLeft(closed)) return closed
    return E.right({ closed: true, session_id: args.session_id, messages_received: closed.right.messagesReceived })
  },
})
