/**
 * The .env file: the parser, the merge below the environment, the messages for bad lines and bad values,
 * and end to end through the built server started in a folder holding a .env.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import { loadConfig, usage, type Config } from '../src/config.js'
import { explainConfigError, mergeEnv, NO_DOTENV, parseDotenv, readDotenv, type Dotenv } from '../src/dotenv.js'
import { mainPath } from './helpers/mcp.js'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

const parsed = (text: string): Dotenv => {
  const r = parseDotenv(text, '/x/.env')
  if (E.isLeft(r)) throw new Error(r.left)
  return r.right
}
const failure = (text: string): string => {
  const r = parseDotenv(text, '/x/.env')
  if (E.isRight(r)) throw new Error(`expected a failure for ${JSON.stringify(text)}`)
  return r.left
}
const config = (argv: string[], env: Record<string, string | undefined>): Config => {
  const r = loadConfig(argv, env)
  if (E.isLeft(r)) throw new Error(r.left)
  return r.right as Config
}

// ---- parser ----------------------------------------------------------------------------------------

test('parseDotenv › reads KEY=value, export, comments, blank lines and spaces around =', (t) => {
  const d = parsed(['# a comment', '', '   ', 'A=1', 'export B=two words', '  C = spaced  ', '\tD=tab', 'export\tE=x', 'F='].join('\n'))
  t.deepEqual(d.values, { A: '1', B: 'two words', C: 'spaced', D: 'tab', E: 'x', F: '' })
  t.deepEqual(d.lines, { A: 4, B: 5, C: 6, D: 7, E: 8, F: 9 })
  t.is(d.file, '/x/.env')
})

test('parseDotenv › an inline comment needs a space before #; # inside a value stays', (t) => {
  const d = parsed(['A=value # comment', 'B=a#b', 'C=  # only a comment', 'D=x\t# tab comment', 'E=#start'].join('\n'))
  t.deepEqual(d.values, { A: 'value', B: 'a#b', C: '', D: 'x', E: '#start' })
})

test('parseDotenv › single quotes are literal, double quotes understand \\n \\r \\t \\" \\\\', (t) => {
  const d = parsed(
    [
      `A='it has # and \\n and "quotes"'`,
      'B="line1\\nline2\\ttab \\"q\\" back\\\\slash \\r"',
      `C="keeps \\x unknown escapes"  # comment`,
      `D='  spaces kept  '`,
      'E=""',
      `F="a 'single' inside"`,
    ].join('\n'),
  )
  t.is(d.values['A'], 'it has # and \\n and "quotes"')
  t.is(d.values['B'], 'line1\nline2\ttab "q" back\\slash \r')
  t.is(d.values['C'], 'keeps \\x unknown escapes')
  t.is(d.values['D'], '  spaces kept  ')
  t.is(d.values['E'], '')
  t.is(d.values['F'], "a 'single' inside")
})

test('parseDotenv › no variable expansion: $X and ${X} stay as written', (t) => {
  const d = parsed(['HOME_DIR=$HOME/x', 'B="${A}"', "C='$A'"].join('\n'))
  t.deepEqual(d.values, { HOME_DIR: '$HOME/x', B: '${A}', C: '$A' })
})

test('parseDotenv › CRLF line ends and a byte order mark; the last of repeated keys wins', (t) => {
  const d = parsed('\uFEFFA=1\r\nB="x"\r\nA=2\r\n')
  t.deepEqual(d.values, { A: '2', B: 'x' })
  t.is(d.lines['A'], 3)
})

test('parseDotenv › a malformed line names the file and the line, never a value', (t) => {
  const cases: Array<[string, number, RegExp]> = [
    ['A=1\njust-a-secret-token-pasted-alone', 2, /expected KEY=value/],
    ['1BAD=secretvalue', 1, /name of letters/],
    ['my key=secretvalue', 1, /name of letters/],
    ['\n\nMQTT_PASSWORD="secretvalue', 3, /MQTT_PASSWORD: the double quote is not closed/],
    ["TOKEN='secretvalue", 1, /TOKEN: the single quote is not closed/],
    ['A="secretvalue" trailing', 1, /A: unexpected text after the closing quote/],
    ['=secretvalue', 1, /expected KEY=value/],
  ]
  for (const [text, line, reason] of cases) {
    const message = failure(text)
    t.true(message.startsWith(`/x/.env, line ${line}: `), message)
    t.regex(message, reason)
    t.false(message.includes('secretvalue'), message)
    t.false(message.includes('just-a-secret'), message)
  }
})

// ---- reading the file --------------------------------------------------------------------------------

test('readDotenv › ./.env by default, --env-file path or --env-file=path instead, relative to cwd', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dotenv-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  t.deepEqual(readDotenv([], dir), E.right(NO_DOTENV), 'a missing default file is fine')
  await writeFile(join(dir, '.env'), 'A=default\n')
  await writeFile(join(dir, 'other.env'), 'A=other\n')
  const values = (argv: string[]): Readonly<Record<string, string>> => {
    const r = readDotenv(argv, dir)
    if (E.isLeft(r)) throw new Error(r.left)
    return r.right.values
  }
  t.deepEqual(values([]), { A: 'default' })
  t.deepEqual(values(['--env-file', 'other.env']), { A: 'other' })
  t.deepEqual(values(['--log-level', 'debug', '--env-file=other.env']), { A: 'other' })
  t.deepEqual(values(['--env-file', join(dir, 'other.env')]), { A: 'other' })
  const r = readDotenv([], dir)
  t.is(E.isRight(r) ? r.right.file : undefined, join(dir, '.env'))
})

test('readDotenv › a named file that is missing is an error naming it; --env-file without a path too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dotenv-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const missing = readDotenv(['--env-file', 'nope.env'], dir)
  t.true(E.isLeft(missing))
  t.true((E.isLeft(missing) ? missing.left : '').includes(`cannot read the .env file ${join(dir, 'nope.env')}: ENOENT`))
  for (const argv of [['--env-file'], ['--env-file', '--demo'], ['--env-file=']]) {
    const r = readDotenv(argv, dir)
    t.regex(E.isLeft(r) ? r.left : '', /--env-file needs a path/, argv.join(' '))
  }
  // the default file may be missing, but not unreadable
  const reading = readDotenv([], dir, () => {
    throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })
  })
  t.regex(E.isLeft(reading) ? reading.left : '', /cannot read the \.env file .*: EACCES/)
})

// ---- precedence --------------------------------------------------------------------------------------

test('precedence › flags > environment > .env > defaults', (t) => {
  const file = parsed('MQTT_MCP_LOG_LEVEL=debug\nMQTT_MCP_MAX_SESSIONS=7\nMQTT_MCP_READ_ONLY=true\n')
  const env = { MQTT_MCP_LOG_LEVEL: 'warn', MQTT_MCP_MAX_SESSIONS: '9' }
  const c = config(['--log-level', 'error'], mergeEnv(file, env))
  t.is(c.logLevel, 'error', 'the flag beats environment and file')
  t.is(c.maxSessions, 9, 'the environment beats the file')
  t.true(c.readOnly, 'the file beats the default')
  t.is(c.sessionTtlSeconds, 3600, 'the default when nobody sets it')
})

test('mergeEnv › an empty environment variable counts as unset and does not hide the file', (t) => {
  const file = parsed('A=from-file\nB=from-file\nC=from-file\n')
  t.deepEqual(mergeEnv(file, { A: '', B: undefined, C: 'env', D: 'env' }), { A: 'from-file', B: 'from-file', C: 'env', D: 'env' })
})

test('loadConfig accepts --env-file (read before it) and --help lists it', (t) => {
  t.notThrows(() => config(['--env-file', 'x.env', '--max-sessions', '2'], {}))
  t.regex(usage(), /--env-file <path>/)
})

// ---- messages for bad values ------------------------------------------------------------------------

test('explainConfigError › names the .env file and line when the bad value came from it', (t) => {
  const file = { ...parsed('# settings\nMQTT_MCP_MAX_SESSIONS=abc\n'), file: '/srv/app/.env' }
  const r = loadConfig([], mergeEnv(file, {}))
  const message = E.isLeft(r) ? explainConfigError(r.left, file, {}) : ''
  t.regex(message, /^Invalid MQTT_MCP_MAX_SESSIONS="abc": expected an integer from 1 to 100\. \(set in \/srv\/app\/\.env, line 2\)$/)
  // the same variable bad in the environment: the file is not blamed
  const env = { MQTT_MCP_MAX_SESSIONS: 'xyz' }
  const r2 = loadConfig([], mergeEnv(file, env))
  t.is(E.isLeft(r2) ? explainConfigError(r2.left, file, env) : '', 'Invalid MQTT_MCP_MAX_SESSIONS="xyz": expected an integer from 1 to 100.')
})

test('explainConfigError › never shows the value of a secret-looking variable', (t) => {
  const file = { ...parsed('SOME_API_KEY=abc\n'), file: '/e/.env' }
  t.is(explainConfigError('Invalid SOME_API_KEY="abc: expected x": expected a string.', file, {}), 'Invalid SOME_API_KEY=***: expected a string. (set in /e/.env, line 1)')
  const pw = { ...parsed('MQTT_URL=mqtt://u:hunter2@h:99999\n'), file: '/e/.env' }
  const r = loadConfig([], mergeEnv(pw, {}))
  const message = E.isLeft(r) ? explainConfigError(r.left, pw, {}) : ''
  t.regex(message, /Invalid MQTT_URL=.*\(set in \/e\/\.env, line 1\)/)
  t.false(message.includes('hunter2'), message)
})

// ---- .env.example ------------------------------------------------------------------------------------

test('.env.example documents every setting, parses, and uncommented gives a valid config', async (t) => {
  const text = await readFile(join(repoRoot, '.env.example'), 'utf8')
  t.true(E.isRight(parseDotenv(text, '.env.example')))
  const documented = new Set([...text.matchAll(/^# ([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!))
  const settings = new Set([...usage().matchAll(/\b(MQTT_[A-Z0-9_]+)\b/g)].map((m) => m[1]!))
  t.deepEqual([...settings].filter((s) => !documented.has(s)), [], 'every setting of --help is in .env.example')
  t.deepEqual([...documented].filter((s) => !settings.has(s)), [], 'and nothing else')
  const uncommented = text.replace(/^# ([A-Z][A-Z0-9_]*=)/gm, '$1')
  const file = parseDotenv(uncommented, '.env.example')
  t.true(E.isRight(file))
  if (E.isRight(file)) {
    const r = loadConfig([], mergeEnv(file.right, {}))
    t.true(E.isRight(r), E.isLeft(r) ? r.left : '')
  }
})

// ---- end to end: the built server started in a folder with a .env --------------------------------------

interface Run {
  readonly code: number | null
  readonly stderr: string
}

/**
 * Starts `node .build/src/main.js args` in `cwd` with only PATH (and `env`), waits until it is ready (or has
 * exited), then closes its stdin and waits for the exit.
 */
function runServer(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainPath, '--no-http', ...args], { cwd, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000)
    // ready is logged at info; with a quieter level, the MCP handshake is the sign of life
    child.stdout.once('data', () => child.stdin.end())
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
      if (stderr.includes('ready on stdio')) child.stdin.end()
    })
    child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) + '\n')
    child.stdin.on('error', () => undefined) // EPIPE when start-up failed before reading stdin
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(kill)
      resolve({ code, stderr })
    })
  })
}

const debugLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('"level":"debug"'))

test('end to end › a bad value in ./.env stops start-up naming the variable and the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dotenv-e2e-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, '.env'), '# limits\nMQTT_MCP_MAX_SESSIONS=abc\n')
  const run = await runServer(dir, [])
  t.is(run.code, 2)
  t.regex(run.stderr, /Invalid MQTT_MCP_MAX_SESSIONS="abc"/)
  t.true(run.stderr.includes(`(set in ${join(dir, '.env')}, line 2)`), run.stderr)
  // a malformed line: file and line, no value
  await writeFile(join(dir, '.env'), 'MQTT_MCP_LOG_LEVEL=debug\nMQTT_PASSWORD="s3cret-value\n')
  const bad = await runServer(dir, [])
  t.is(bad.code, 2)
  t.true(bad.stderr.includes(`${join(dir, '.env')}, line 2: MQTT_PASSWORD: the double quote is not closed`), bad.stderr)
  t.false(bad.stderr.includes('s3cret'))
})

test('end to end › .env sets the log level; the environment overrides it and a flag overrides both', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dotenv-e2e-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, '.env'), 'MQTT_MCP_LOG_LEVEL=debug # chatty\nMQTT_MCP_MAX_SESSIONS=abc\n')

  // .env alone: its bad MQTT_MCP_MAX_SESSIONS is overridden below, its log level shows debug lines
  const fromFile = await runServer(dir, [], { MQTT_MCP_MAX_SESSIONS: '3' })
  t.is(fromFile.code, 0, fromFile.stderr)
  t.true(debugLines(fromFile.stderr).some((l) => l.includes('settings read from .env file') && l.includes(join(dir, '.env'))), fromFile.stderr)
  t.false(fromFile.stderr.includes('abc'), 'values are not logged')

  // the environment beats the file
  const fromEnv = await runServer(dir, [], { MQTT_MCP_MAX_SESSIONS: '3', MQTT_MCP_LOG_LEVEL: 'info' })
  t.is(fromEnv.code, 0, fromEnv.stderr)
  t.regex(fromEnv.stderr, /ready on stdio/)
  t.deepEqual(debugLines(fromEnv.stderr), [])

  // a flag beats both
  const fromFlag = await runServer(dir, ['--log-level', 'info', '--max-sessions', '2'], { MQTT_MCP_LOG_LEVEL: 'error' })
  t.is(fromFlag.code, 0, fromFlag.stderr)
  t.regex(fromFlag.stderr, /ready on stdio/)
  t.deepEqual(debugLines(fromFlag.stderr), [])

  // --env-file names another file instead of ./.env
  await writeFile(join(dir, 'quiet.env'), "MQTT_MCP_LOG_LEVEL='info'\n")
  const other = await runServer(dir, ['--env-file', 'quiet.env'])
  t.is(other.code, 0, other.stderr)
  t.regex(other.stderr, /ready on stdio/)
  t.deepEqual(debugLines(other.stderr), [])
})
