/**
 * Server configuration from flags and environment, decoded by io-ts with defaults. Precedence: flags >
 * environment > `.env` file > defaults; main.ts reads the file (src/dotenv.ts) and passes it merged into `env`.
 * A bad value stops start-up with a message naming the variable or flag.
 */
import { parseArgs } from 'node:util'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { validateTopicFilter } from './mqtt/topic.js'
import { parseConnectionString, redactConnectionString } from './mqtt/url.js'

export interface Config {
  /** Default broker: its session is opened on first use when a tool leaves out session_id. */
  readonly mqttUrl: string | undefined
  readonly mqttUsername: string | undefined
  readonly mqttPassword: string | undefined
  readonly readOnly: boolean
  /** Topic filters the model may publish to; empty means anywhere (unless read-only). */
  readonly publishAllow: readonly string[]
  readonly maxSessions: number
  /** Idle time after which a session is closed, in seconds, counted from its last use. */
  readonly sessionTtlSeconds: number
  /** Upper bound of any tool result, in characters. */
  readonly outputBudgetChars: number
  /** Upper bound of max_messages in one collection window. */
  readonly maxMessagesLimit: number
  /** Largest payload mqtt_publish_message accepts, in bytes. */
  readonly maxPayloadBytes: number
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** Start the embedded broker and simulated fleet, and point the default session at it. */
  readonly demo: boolean
  /** Serve the status page, JSON API and live feed over HTTP (`--no-http` turns it off). */
  readonly http: boolean
  /** Where MCP clients connect: stdio, Streamable HTTP at /mcp on the status server, or both. */
  readonly transport: 'stdio' | 'http' | 'both'
  /** TCP port of the status page; 0 picks any free port. */
  readonly httpPort: number
  /** Address the status page listens on; anything beyond loopback needs `httpToken`. */
  readonly httpHost: string
  /** Bearer token required by every HTTP route and the WebSocket upgrade when set (and always beyond loopback). */
  readonly httpToken: string | undefined
  /** Extra Host header names accepted besides loopback and httpHost (reverse proxies), each `name` or `name:port`. */
  readonly httpAllowedHosts: readonly string[]
}

/** One setting: its flag, its environment variable, and the codec that decodes its string form. */
interface Setting<A> {
  readonly flag: string
  readonly env: string
  readonly codec: t.Type<A, unknown, unknown>
  readonly fallback: A
  readonly help: string
}

const fromString = <A>(name: string, parse: (s: string) => A | undefined, trim = true): t.Type<A, unknown, unknown> =>
  new t.Type<A, unknown, unknown>(
    name,
    (_u): _u is A => true,
    (u, c) => {
      if (typeof u !== 'string') return t.failure(u, c, name)
      const a = parse(trim ? u.trim() : u)
      return a === undefined ? t.failure(u, c, name) : t.success(a)
    },
    (a) => a,
  )

const boolean = fromString('true or false (also 1/0, yes/no, on/off)', (s) =>
  /^(1|true|yes|on)$/i.test(s) ? true : /^(0|false|no|off|)$/i.test(s) ? false : undefined,
)
const intIn = (min: number, max: number) =>
  fromString(`an integer from ${min} to ${max}`, (s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN
    return Number.isInteger(n) && n >= min && n <= max ? n : undefined
  })
// Credentials are taken exactly as given: a space at either end may be part of a password.
const text = fromString('a string', (s) => (s === '' ? undefined : s), false)
const brokerUrl = fromString('a broker URL such as mqtt://host:1883', (s) =>
  s === '' ? undefined : E.isRight(parseConnectionString(s)) ? s : undefined,
)
const filters = fromString<readonly string[]>('comma-separated MQTT topic filters such as sensors/#,cmd/+/set', (s) => {
  const list = s.split(',').map((f) => f.trim()).filter((f) => f !== '')
  return list.every((f) => E.isRight(validateTopicFilter(f))) ? list : undefined
})
// a host name, an IPv4 address or an IPv6 address (brackets optional): what listen() and a Host header can carry
const HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i
const IPV6 = /^\[?[0-9a-f:.]*:[0-9a-f:.]*\]?$/i
const isHost = (s: string): boolean => s.length <= 253 && (HOST_NAME.test(s) || IPV6.test(s))
const listenHost = fromString('a host name or IP address such as 127.0.0.1, ::1 or 0.0.0.0', (s) => (isHost(s) ? s.replace(/^\[(.*)\]$/, '$1') : undefined))
const hostList = fromString<readonly string[]>('comma-separated host names, each optionally with :port, such as status.example.com,10.0.0.5:8091', (s) => {
  const list = s.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '')
  const valid = (h: string): boolean => {
    const m = /^(\[[0-9a-f:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(h)
    return m !== null && isHost(m[1]!) && (m[2] === undefined || Number(m[2]) <= 65535)
  }
  return list.every(valid) ? list : undefined
})
const transport = fromString('one of stdio, http, both', (s) => (['stdio', 'http', 'both'].includes(s) ? (s as Config['transport']) : undefined))
const logLevel = fromString('one of debug, info, warn, error, silent', (s) =>
  ['debug', 'info', 'warn', 'error', 'silent'].includes(s) ? (s as Config['logLevel']) : undefined,
)

const settings: { readonly [K in keyof Config]: Setting<Config[K]> } = {
  mqttUrl: { flag: 'mqtt-url', env: 'MQTT_URL', codec: brokerUrl as t.Type<string | undefined, unknown>, fallback: undefined, help: 'default broker, e.g. mqtt://user:pass@host:1883' },
  mqttUsername: { flag: 'mqtt-username', env: 'MQTT_USERNAME', codec: text as t.Type<string | undefined, unknown>, fallback: undefined, help: 'username for the default broker' },
  mqttPassword: { flag: 'mqtt-password', env: 'MQTT_PASSWORD', codec: text as t.Type<string | undefined, unknown>, fallback: undefined, help: 'password for the default broker (prefer the environment over the flag)' },
  readOnly: { flag: 'read-only', env: 'MQTT_MCP_READ_ONLY', codec: boolean, fallback: false, help: 'refuse every publish and retained clear' },
  publishAllow: { flag: 'publish-allow', env: 'MQTT_MCP_PUBLISH_ALLOW', codec: filters, fallback: [], help: 'comma-separated topic filters the model may publish to (default: anywhere)' },
  maxSessions: { flag: 'max-sessions', env: 'MQTT_MCP_MAX_SESSIONS', codec: intIn(1, 100), fallback: 5, help: 'open sessions at most' },
  sessionTtlSeconds: { flag: 'session-ttl-seconds', env: 'MQTT_MCP_SESSION_TTL_SECONDS', codec: intIn(1, 604800), fallback: 3600, help: 'idle seconds before a session is closed' },
  outputBudgetChars: { flag: 'output-budget-chars', env: 'MQTT_MCP_OUTPUT_BUDGET_CHARS', codec: intIn(2000, 10_000_000), fallback: 60000, help: 'largest tool result, in characters' },
  maxMessagesLimit: { flag: 'max-messages', env: 'MQTT_MCP_MAX_MESSAGES', codec: intIn(1, 1_000_000), fallback: 500, help: 'upper bound of max_messages in one collection window' },
  maxPayloadBytes: { flag: 'max-payload-bytes', env: 'MQTT_MCP_MAX_PAYLOAD_BYTES', codec: intIn(1, 268_435_455), fallback: 1_048_576, help: 'largest payload to publish, in bytes' },
  logLevel: { flag: 'log-level', env: 'MQTT_MCP_LOG_LEVEL', codec: logLevel, fallback: 'info', help: 'stderr log level: debug, info, warn, error, silent' },
  demo: { flag: 'demo', env: 'MQTT_MCP_DEMO', codec: boolean, fallback: false, help: 'start the embedded demo broker with simulated devices' },
  transport: { flag: 'transport', env: 'MQTT_MCP_TRANSPORT', codec: transport, fallback: 'stdio', help: 'MCP transport: stdio, http (Streamable HTTP at /mcp) or both' },
  http: { flag: 'http', env: 'MQTT_MCP_HTTP', codec: boolean, fallback: true, help: 'serve the status page and live feed (--no-http turns it off)' },
  httpPort: { flag: 'http-port', env: 'MQTT_MCP_HTTP_PORT', codec: intIn(0, 65535), fallback: 8091, help: 'status page port; 0 picks a free one' },
  httpHost: { flag: 'http-host', env: 'MQTT_MCP_HTTP_HOST', codec: listenHost, fallback: '127.0.0.1', help: 'status page address; beyond loopback it needs a token' },
  httpToken: { flag: 'http-token', env: 'MQTT_MCP_HTTP_TOKEN', codec: text as t.Type<string | undefined, unknown>, fallback: undefined, help: 'bearer token for the status page and API (prefer the environment over the flag)' },
  httpAllowedHosts: { flag: 'http-allowed-hosts', env: 'MQTT_MCP_HTTP_ALLOWED_HOSTS', codec: hostList, fallback: [], help: 'extra Host names the status page accepts (reverse proxies), comma-separated' },
}

const booleanFlags = new Set(['read-only', 'demo', 'http'])

/**
 * `--no-http` by hand: util.parseArgs learned `allowNegative` only in Node 20.16 / 22.4, and engines says >= 20.
 * The last of `--http` / `--no-http` wins, as parseArgs does for repeated flags.
 */
function takeNegations(argv: readonly string[]): { args: string[]; negated: Set<string> } {
  const args: string[] = []
  const negated = new Set<string>()
  for (const arg of argv) {
    const flag = arg.startsWith('--no-') ? arg.slice(5) : undefined
    if (flag !== undefined && booleanFlags.has(flag)) {
      negated.add(flag)
      continue
    }
    if (arg.startsWith('--') && booleanFlags.has(arg.slice(2))) negated.delete(arg.slice(2))
    args.push(arg)
  }
  return { args, negated }
}

export type ConfigResult = E.Either<string, Config | { readonly help: string } | { readonly version: true }>

/** Decodes argv (without node and script) and env into a Config, or a message naming the bad setting. */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ConfigResult {
  // --env-file is read by main.ts before loadConfig (src/dotenv.ts); here it is only accepted
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, version: { type: 'boolean' }, 'env-file': { type: 'string' } }
  for (const s of Object.values(settings)) options[s.flag] = { type: booleanFlags.has(s.flag) ? 'boolean' : 'string' }
  let values: Record<string, string | boolean | undefined>
  const { args, negated } = takeNegations(argv)
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values as typeof values
  } catch (e) {
    return E.left(`${(e as Error).message}. Run with --help for the list of flags.`)
  }
  for (const flag of negated) values[flag] = false
  if (values.help === true) return E.right({ help: usage() })
  if (values.version === true) return E.right({ version: true })

  const out: Record<string, unknown> = {}
  for (const [key, s] of Object.entries(settings) as Array<[keyof Config, Setting<unknown>]>) {
    const flag = values[s.flag]
    const raw = typeof flag === 'boolean' ? String(flag) : flag ?? env[s.env]
    // an empty variable (`MQTT_MCP_MAX_SESSIONS=`) means unset, as shells and .env files use it
    if (raw === undefined || (raw === '' && flag === undefined)) {
      out[key] = s.fallback
      continue
    }
    const decoded = s.codec.decode(raw)
    if (E.isLeft(decoded)) {
      const source = flag !== undefined ? `--${s.flag}` : s.env
      const shown = /PASSWORD|TOKEN/.test(s.env) ? '***' : JSON.stringify(redactConnectionString(raw))
      return E.left(`Invalid ${source}=${shown}: expected ${s.codec.name}.`)
    }
    out[key] = decoded.right
  }
  const config = out as unknown as Config
  if (config.transport !== 'stdio' && !config.http) {
    return E.left(`--transport ${config.transport} serves MCP on the status server, which --no-http / MQTT_MCP_HTTP=false turns off.`)
  }
  return E.right(config)
}

const envFileUsage = `  --${'env-file <path>'.padEnd(22)} ${''.padEnd(30)} read settings from this file instead of ./.env (below the environment)`

/** The --help text: every flag with its environment variable and default. */
export function usage(): string {
  const lines = Object.values(settings).map((s) => {
    const def = s.fallback === undefined || (Array.isArray(s.fallback) && s.fallback.length === 0) ? '' : ` (default ${String(s.fallback)})`
    return `  --${s.flag.padEnd(22)} ${s.env.padEnd(30)} ${s.help}${def}`
  })
  const negations = [`  --${'no-http'.padEnd(22)} ${'MQTT_MCP_HTTP=false'.padEnd(30)} no status page, API or live feed`]
  return ['Usage: bitsperity-mqtt-mcp [flags]', '', '  flag                     environment variable', ...lines, ...negations, envFileUsage, '  --help', '  --version'].join('\n')
}
