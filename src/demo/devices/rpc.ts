/**
 * A request/response service on plain topic pairs: `demo/rpc/<method>/request` → `demo/rpc/<method>/response`.
 * aedes speaks MQTT 3.1.1 only, so there is no Response Topic or Correlation Data: the reply carries back the
 * request's `id` / `correlation_id` instead.
 */
import { parseJsonObject, type DeviceContext, type DeviceSpec } from '../device.js'

const PREFIX = 'demo/rpc'
/** The methods the responder knows; any other method gets an error reply. */
export const RPC_METHODS = ['echo', 'time', 'add', 'slow', 'flaky'] as const
type Method = (typeof RPC_METHODS)[number]

const SLOW_DELAY_MS = 2_000
const FLAKY_ANSWER_RATE = 0.6

/** The responder, an application service rather than a device, so it counts as `generic`. */
export function rpcResponder(): DeviceSpec {
  const topics = RPC_METHODS.flatMap((m) => [`${PREFIX}/${m}/request`, `${PREFIX}/${m}/response`])
  return {
    info: { id: 'rpc-responder', name: 'Demo RPC responder', style: 'generic', topics },
    start(ctx) {
      ctx.on(`${PREFIX}/+/request`, (topic, payload) => {
        const method = topic.split('/')[2] ?? ''
        const respond = (body: Record<string, unknown>): void => {
          void ctx.publish(`${PREFIX}/${method}/response`, JSON.stringify({ ...correlation(payload), ...body }))
        }
        answer(ctx, method, payload, respond)
      })
    },
  }
}

function answer(ctx: DeviceContext, method: string, payload: Buffer, respond: (body: Record<string, unknown>) => void): void {
  if (!isMethod(method)) {
    respond({ error: 'unknown method', method, methods: RPC_METHODS })
    return
  }
  switch (method) {
    case 'echo':
      respond({ echo: parseJsonObject(payload) ?? payload.toString('utf8') })
      return
    case 'time': {
      const now = new Date()
      respond({ now: now.toISOString(), epoch_ms: now.getTime(), uptime_s: ctx.uptimeSeconds() })
      return
    }
    case 'add': {
      const args = parseJsonObject(payload)
      const a = args?.['a']
      const b = args?.['b']
      if (typeof a === 'number' && typeof b === 'number') respond({ result: a + b })
      else respond({ error: 'expected {"a": number, "b": number}' })
      return
    }
    case 'slow':
      ctx.after(SLOW_DELAY_MS, () => respond({ ok: true }))
      return
    case 'flaky':
      // stays silent now and then, so timeouts can be demonstrated
      if (ctx.random() < FLAKY_ANSWER_RATE) respond({ ok: true })
      return
  }
}

const isMethod = (m: string): m is Method => (RPC_METHODS as readonly string[]).includes(m)

/** The request's correlation fields, copied into the reply so a caller can pair them. */
function correlation(payload: Buffer): Record<string, unknown> {
  const json = parseJsonObject(payload)
  if (json === undefined) return {}
  const out: Record<string, unknown> = {}
  for (const key of ['id', 'correlation_id', 'correlationId', 'request_id']) {
    if (json[key] !== undefined) out[key] = json[key]
  }
  return out
}
