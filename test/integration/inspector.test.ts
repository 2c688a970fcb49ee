/**
 * The MCP Inspector CLI (`@modelcontextprotocol/inspector`, a dev dependency) as an independent client: its own
 * process, a clean working directory and HOME, talking to the built server over stdio (the CLI spawns the server
 * for every call) and over Streamable HTTP (one server the test started). tools/list, a tools/call that reaches
 * the broker (checked by an independent subscriber), a tool error (exit code 5), resources/list and prompts/list.
 *
 * Working invocations (as run below):
 *   mcp-inspector --cli node .build/src/main.js --cwd <dir> -e MQTT_URL=… -e MQTT_MCP_HTTP=false \
 *     --method tools/list --format json
 *   mcp-inspector --cli http://127.0.0.1:<port>/mcp --transport http --method tools/list --format json
 *   … --method tools/call --tool-name mqtt_publish_message --tool-args-json '{"topic":"…","qos":1}'
 *
 * Skipped (with the reason in its title) only when the inspector's binary is not installed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { constants } from 'node:fs'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import { startAedes, type TestBroker } from '../helpers/brokers.js'
import { mainPath } from '../helpers/mcp.js'
import { witness, type Witness } from '../helpers/subscriber.js'
import { tools } from '../../src/tools/index.js'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const inspectorBin = join(repoRoot, 'node_modules', '.bin', 'mcp-inspector')

/** Each CLI call spawns a fresh client (and, over stdio, a fresh server): generous for a busy 2-core runner. */
const CALL_TIMEOUT_MS = 45_000
/** The CLI's own connect timeout (its default is 15 s). */
const CONNECT_TIMEOUT_MS = 30_000

const missing = await access(inspectorBin, constants.X_OK).then(
  () => undefined,
  (err: NodeJS.ErrnoException) => `${inspectorBin} is not installed (${err.code ?? err.message}); run npm ci`,
)
if (missing !== undefined) console.log(`inspector.test: skipping: ${missing}`)
const serial = missing === undefined ? test.serial : test.serial.skip
const title = (s: string): string => (missing === undefined ? s : `${s} (skipped: ${missing})`)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

let broker: TestBroker
let seen: Witness
test.before(async () => {
  broker = await startAedes()
  seen = await witness(broker.url, 'inspector/#')
})
test.after.always(async () => {
  await seen?.close()
  await broker?.close()
})

// ---------------------------------------------------------------------------------------------------------------
// running the CLI

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/** True while any process of the group `pgid` is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

/**
 * Runs `mcp-inspector --cli …args` in its own process group with a clean env (PATH; HOME = `dir`, so nothing is
 * read from or written to the real home) in `dir`. Rejects after CALL_TIMEOUT_MS, killing the whole group; on
 * exit, waits until nothing of the group (e.g. the stdio server it spawned) is left and kills what remains.
 */
async function inspector(t: ExecutionContext, dir: string, args: string[]): Promise<Run> {
  const started = Date.now()
  const child = spawn(inspectorBin, ['--cli', ...args], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, MCP_INSPECTOR_SECRET_STORE: 'memory', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  t.teardown(() => killGroup(child))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
  const run = await new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child)
      reject(new Error(`mcp-inspector --cli ${args.join(' ')}: no exit within ${CALL_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, CALL_TIMEOUT_MS)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
  // the CLI closes its stdio server before it exits; give stragglers a moment, then make sure
  const pgid = child.pid
  if (pgid !== undefined) {
    const deadline = Date.now() + 5_000
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(50)
    if (groupAlive(pgid)) {
      killGroup(child)
      t.fail(`processes of mcp-inspector ${args.join(' ')} were still running 5 s after it exited`)
    }
  }
  t.log(`mcp-inspector --method ${args[args.indexOf('--method') + 1] ?? '?'}: exit ${String(run.code)} in ${run.ms} ms`)
  return run
}

interface Envelope<R> {
  result: R
}

/** The `--format json` result of a run that must have exited with `code`. */
function result<R>(t: ExecutionContext, run: Run, code = 0): R {
  const what = `exit ${String(run.code)}${run.signal === null ? '' : ` (${run.signal})`}\nstdout: ${run.stdout.slice(0, 2000)}\nstderr: ${run.stderr.slice(-4000)}`
  if (run.code !== code) throw new Error(`expected exit code ${code}, got ${what}`)
  try {
    return (JSON.parse(run.stdout) as Envelope<R>).result
  } catch {
    t.log(what)
    throw new Error(`stdout is not one JSON object: ${what}`)
  }
}

interface ToolsList {
  tools: Array<{ name: string; inputSchema: { type: string; properties?: Record<string, unknown> } }>
}
interface CallResult {
  content: Array<{ type: string; text?: string }>
  structuredContent?: Record<string, unknown>
  isError?: boolean
}
interface ResourcesList {
  resources: Array<{ uri: string; name: string }>
}
interface PromptsList {
  prompts: Array<{ name: string }>
}

/**
 * The same checks for either transport; `target` is what comes before the method (server command or URL). Calls
 * run one after another: over stdio each one starts a server of its own.
 */
async function exercise(t: ExecutionContext, dir: string, target: string[], via: 'stdio' | 'http'): Promise<void> {
  const json = ['--format', 'json', '--connect-timeout', String(CONNECT_TIMEOUT_MS)]

  // tools/list: every registered tool with an object input schema; --strict exits 6 on error-severity schema problems
  const listed = result<ToolsList>(t, await inspector(t, dir, [...target, '--method', 'tools/list', '--strict', ...json]))
  t.deepEqual(listed.tools.map((x) => x.name), tools.map((x) => x.name))
  for (const tool of listed.tools) t.is(tool.inputSchema.type, 'object', tool.name)
  t.truthy(listed.tools.find((x) => x.name === 'mqtt_publish_message')?.inputSchema.properties?.['qos'])

  // tools/call with exact JSON types (qos as a number): the message reaches an independent subscriber
  const topic = `inspector/${via}`
  const payload = JSON.stringify({ via, n: 42 })
  const qos = via === 'stdio' ? 1 : 2
  const from = seen.messages.length
  const published = result<CallResult>(
    t,
    await inspector(t, dir, [...target, '--method', 'tools/call', '--tool-name', 'mqtt_publish_message', '--tool-args-json', JSON.stringify({ topic, payload, qos }), ...json]),
  )
  t.not(published.isError, true)
  t.like(published.structuredContent, { published: true, topic, qos, retain: false, ack: { packet: qos === 1 ? 'puback' : 'pubcomp', reason_code: 0 } })
  const got = await seen.waitFor((m) => m.topic === topic, 10_000, from)
  t.is(got.payload.toString('utf8'), payload)
  t.is(got.packet.qos, qos)
  t.false(got.packet.retain)

  // a tool error: isError with our error body on stdout, exit code 5 and the CLI's envelope on stderr
  const failed = await inspector(t, dir, [...target, '--method', 'tools/call', '--tool-name', 'mqtt_publish_message', '--tool-args-json', JSON.stringify({ topic: 'a/#', payload: 'x' }), ...json])
  const error = result<CallResult>(t, failed, 5)
  t.true(error.isError)
  t.is(error.structuredContent, undefined, 'an error result carries no structuredContent')
  const body = JSON.parse(error.content[0]?.text ?? '{}') as { error?: { code?: string; retryable?: boolean } }
  t.like(body.error, { code: 'INVALID_TOPIC', retryable: false })
  t.regex(failed.stderr, /tool_is_error/)

  // resources/list and prompts/list
  const resources = result<ResourcesList>(t, await inspector(t, dir, [...target, '--method', 'resources/list', ...json]))
  t.true(resources.resources.some((r) => r.uri === 'mqtt://sessions'), JSON.stringify(resources.resources.map((r) => r.uri)))
  const prompts = result<PromptsList>(t, await inspector(t, dir, [...target, '--method', 'prompts/list', ...json]))
  t.deepEqual(prompts.prompts.map((p) => p.name), ['explore_broker', 'debug_device'])

  // nothing but the publish reached the broker's inspector/ topics
  t.deepEqual(seen.messages.slice(from).map((m) => m.topic), [topic])
}

async function scratchDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mqtt-mcp-inspector-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

// ---------------------------------------------------------------------------------------------------------------

serial(title('the MCP Inspector CLI drives the server over stdio'), async (t) => {
  t.timeout(150_000)
  const dir = await scratchDir(t)
  // the CLI spawns `node .build/src/main.js` itself, in `dir`, with only these variables (plus its defaults)
  const target = [process.execPath, mainPath, '--cwd', dir, '-e', `MQTT_URL=${broker.url}`, '-e', 'MQTT_MCP_HTTP=false']
  await exercise(t, dir, target, 'stdio')
})

serial(title('the MCP Inspector CLI drives the server over Streamable HTTP'), async (t) => {
  t.timeout(150_000)
  const dir = await scratchDir(t)
  const server = spawn(process.execPath, [mainPath, '--transport', 'http', '--http-port', '0'], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, MQTT_URL: broker.url },
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  let stderr = ''
  server.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
  const exited = new Promise<void>((resolve) => server.once('close', () => resolve()))
  t.teardown(async () => {
    server.kill('SIGTERM')
    const timer = setTimeout(() => server.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  })

  let base: string | undefined
  for (const deadline = Date.now() + 30_000; base === undefined && Date.now() < deadline; await sleep(50)) {
    const line = stderr.split('\n').find((l) => l.includes('status page on'))
    if (line !== undefined) base = (JSON.parse(line) as { url: string }).url
    if (server.exitCode !== null) break
  }
  if (base === undefined) throw new Error(`the server logged no status page URL:\n${stderr}`)
  const url = new URL('/mcp', base).href

  await exercise(t, dir, [url, '--transport', 'http'], 'http')
})
