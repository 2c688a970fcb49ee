/** Structured logging to stderr: one JSON object per line. stdout belongs to the MCP protocol. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  child(fields: Record<string, unknown>): Logger
}

const SECRET_KEY = /pass(word)?|secret|token|authorization|^key$|passphrase|credential/i

/** Replaces secret-looking fields and URL userinfo passwords, recursively. */
export function redactFields(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[deep]'
  if (typeof value === 'string') return redactUrlsInText(value)
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1))
  if (value instanceof Error) return { name: value.name, message: redactUrlsInText(value.message) }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? '***' : redactFields(v, depth + 1)
    }
    return out
  }
  return value
}

/**
 * Masks the password of any `scheme://user:pass@` inside free text. Greedy to the last '@' of the word, as the
 * connection-string parser reads it, so an unencoded '@' or '/' in the password is masked too.
 */
export function redactUrlsInText(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s]*:)\S*@/gi, '$1***@')
}

type Sink = (line: string) => void

/** A logger writing JSON lines at or above `level` to `sink` (stderr by default). */
export function createLogger(
  level: LogLevel = 'info',
  base: Record<string, unknown> = {},
  sink: Sink = (line) => process.stderr.write(line + '\n'),
): Logger {
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>): void => {
    if (rank[lvl] < rank[level]) return
    const record = { time: new Date().toISOString(), level: lvl, msg: redactUrlsInText(msg), ...base, ...fields }
    sink(JSON.stringify(redactFields(record)))
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, sink),
  }
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger('silent')
