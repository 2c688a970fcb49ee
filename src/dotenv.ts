/**
 * Settings from a `.env` file: a small parser (no dependency) and the merge that puts the file below the
 * environment. Precedence, highest first: flags > environment > `.env` > defaults.
 *
 * The format, one entry per line:
 *   KEY=value            unquoted; leading and trailing spaces are dropped, ` # …` after it is a comment
 *   export KEY=value     `export ` is allowed and ignored
 *   KEY='value'          single quotes: taken literally
 *   KEY="a\nb"           double quotes: \n \r \t \" \\ are escapes
 *   # comment            comments and blank lines are skipped
 * There is no variable expansion (`$HOME` and `${X}` stay as written) and no multi-line value (use \n in
 * double quotes). A line that does not parse stops start-up with its file and line number; no value is ever
 * repeated in the message.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'

/** What a `.env` file set: the values, and the line each key was (last) set on. */
export interface Dotenv {
  /** Absolute path of the file read, or undefined when there was none (the default file is optional). */
  readonly file: string | undefined
  readonly values: Readonly<Record<string, string>>
  readonly lines: Readonly<Record<string, number>>
}

export const NO_DOTENV: Dotenv = { file: undefined, values: {}, lines: {} }

/** Keys whose values are never repeated anywhere, even in an error message. */
export const looksSecret = (key: string): boolean => /PASSWORD|TOKEN|SECRET|KEY/i.test(key)

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' }

type LineResult = { readonly key: string; readonly value: string } | { readonly error: string } | undefined

/** One line: undefined for a blank or comment line, else the entry or why it does not parse. */
function parseLine(text: string): LineResult {
  const line = text.trim()
  if (line === '' || line.startsWith('#')) return undefined
  const body = /^export\s+/.test(line) ? line.replace(/^export\s+/, '') : line
  const eq = body.indexOf('=')
  // nothing of the line is shown: a line without '=' may well be a pasted secret
  if (eq < 0) return { error: 'expected KEY=value' }
  const key = body.slice(0, eq).trim()
  if (!KEY.test(key)) return { error: 'expected KEY=value with a name of letters, digits and _ not starting with a digit' }
  const after = body.slice(eq + 1)
  const rest = after.replace(/^\s+/, '')
  const quote = rest[0]
  if (quote === '"' || quote === "'") {
    let value = ''
    let i = 1
    for (; i < rest.length && rest[i] !== quote; i++) {
      if (quote === '"' && rest[i] === '\\' && i + 1 < rest.length) {
        const next = rest[i + 1]!
        value += ESCAPES[next] ?? `\\${next}`
        i++
      } else value += rest[i]
    }
    if (i >= rest.length) return { error: `${key}: the ${quote === '"' ? 'double' : 'single'} quote is not closed on this line` }
    const tail = rest.slice(i + 1).trim()
    if (tail !== '' && !tail.startsWith('#')) return { error: `${key}: unexpected text after the closing quote` }
    return { key, value }
  }
  // unquoted: a comment starts at a '#' preceded by whitespace (`a#b` keeps its '#')
  const comment = after.search(/\s#/)
  return { key, value: (comment < 0 ? after : after.slice(0, comment)).trim() }
}

/** Parses the text of a `.env` file; `file` names it in error messages. The last of repeated keys wins. */
export function parseDotenv(text: string, file: string): E.Either<string, Dotenv> {
  const values: Record<string, string> = {}
  const lines: Record<string, number> = {}
  const all = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (const [index, raw] of all.entries()) {
    const parsed = parseLine(raw)
    if (parsed === undefined) continue
    if ('error' in parsed) return E.left(`${file}, line ${index + 1}: ${parsed.error}.`)
    values[parsed.key] = parsed.value
    lines[parsed.key] = index + 1
  }
  return E.right({ file, values, lines })
}

/**
 * The `.env` file argv asks for: `--env-file <path>` or `--env-file=<path>` (the last wins), else `.env` in
 * `cwd` if it exists. A named file that cannot be read is an error; a missing default file is not.
 * The flag itself stays in argv: loadConfig accepts and ignores it.
 */
export function readDotenv(
  argv: readonly string[],
  cwd: string,
  read: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): E.Either<string, Dotenv> {
  let named: string | undefined
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') break
    if (arg.startsWith('--env-file=')) named = arg.slice('--env-file='.length)
    else if (arg === '--env-file') {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('--')) return E.left('--env-file needs a path, e.g. --env-file ./mqtt.env.')
      named = next
    }
  }
  if (named === '') return E.left('--env-file needs a path, e.g. --env-file ./mqtt.env.')
  const file = resolve(cwd, named ?? '.env')
  let text: string
  try {
    text = read(file)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (named === undefined && (code === 'ENOENT' || code === 'ENOTDIR')) return E.right(NO_DOTENV)
    return E.left(`cannot read the .env file ${file}: ${code ?? (e as Error).message}.`)
  }
  return parseDotenv(text, file)
}

/**
 * The environment loadConfig sees: the process environment over the file. An empty variable counts as unset
 * (as loadConfig reads it), so `X=` in the environment does not hide the file's `X`.
 */
export function mergeEnv(dotenv: Dotenv, env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = { ...dotenv.values }
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') merged[key] = value
  return merged
}

/**
 * Adds where a bad setting came from when it was the `.env` file: loadConfig's message names the variable
 * (`Invalid MQTT_MCP_MAX_SESSIONS="abc": …`) but cannot know the file. Values are not added, only the place.
 */
export function explainConfigError(message: string, dotenv: Dotenv, env: Readonly<Record<string, string | undefined>>): string {
  const key = /^Invalid ([A-Za-z_][A-Za-z0-9_]*)=/.exec(message)?.[1]
  if (key === undefined) return message
  // loadConfig masks PASSWORD and TOKEN; mask every secret-looking name the same way
  const shown = looksSecret(key) ? message.replace(/^(Invalid [A-Za-z0-9_]+=).*(: expected .*)$/s, '$1***$2') : message
  const line = dotenv.lines[key]
  const fromFile = dotenv.file !== undefined && line !== undefined && (env[key] === undefined || env[key] === '')
  return fromFile ? `${shown} (set in ${dotenv.file}, line ${line})` : shown
}
