/**
 * Real MQTT brokers for integration tests: aedes in-process (always) and Mosquitto as a child process (when the
 * binary is installed). Every broker listens on 127.0.0.1 on a port of its own, never on the system's 1883, and
 * can be killed and restarted on the same port to test faults.
 *
 *   for (const b of brokerMatrix()) test(`subscribe works on ${b.name}`, async (t) => {
 *     const broker = await b.start()
 *     t.teardown(() => broker.close())
 *     …
 *   })
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { accessSync, chmodSync, constants as fsConstants, rmSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/demo/broker.js'

const HOST = '127.0.0.1'
const START_TIMEOUT_MS = 5_000
const STOP_TIMEOUT_MS = 5_000
const POLL_MS = 25
const STDERR_KEEP = 8 * 1024

const execFileAsync = promisify(execFile)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export type BrokerKind = 'aedes' | 'mosquitto'

/** A broker owned by one test. */
export interface TestBroker {
  readonly kind: BrokerKind
  readonly host: string
  readonly port: number
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string
  /**
   * Takes the broker down (Mosquitto: SIGKILL unless told otherwise, like a crash; aedes: closes the server and
   * drops every client). Resolves once the port refuses connections. No-op when already stopped.
   */
  stop(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
  /** Starts it again on the same port, with the same configuration (stops it first if running). */
  restart(): Promise<void>
  /** Final stop and clean-up; idempotent. `restart` rejects afterwards. */
  close(): Promise<void>
}

/** Options every broker of the matrix understands. */
export interface StartOptions {
  /** Port to listen on; a free one when omitted. */
  port?: number
}

export interface MosquittoOptions extends StartOptions {
  /** username → password. When given: `allow_anonymous false` and a `password_file`. */
  users?: Record<string, string>
  /** `sys_interval` in seconds; 1 by default (Mosquitto's own default is 10). */
  sysInterval?: number
  /** Lines appended to the generated mosquitto.conf. */
  extraConfig?: string[]
  /** `log_dest stderr` (kept for error messages) by default; `false` writes `log_dest none`. */
  log?: boolean
}

// ---------------------------------------------------------------------------------------------------------------
// ports

/** A port that was free a moment ago (listen on 127.0.0.1:0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('freePort: no port assigned'))))
    })
  })
}

/** True when something accepts a TCP connection on host:port. */
export function portAccepts(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host })
    const done = (result: boolean): void => {
      socket.removeAllListeners()
      socket.on('error', () => undefined)
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

async function waitForPortClosed(port: number, what: string): Promise<void> {
  const deadline = Date.now() + STOP_TIMEOUT_MS
  while (await portAccepts(port)) {
    if (Date.now() > deadline) throw new Error(`${what}: port ${port} still accepts connections after stop`)
    await sleep(POLL_MS)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// executables

function findExecutable(name: string, fallbacks: string[]): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '')
  for (const candidate of [...dirs.map((d) => join(d, name)), ...fallbacks]) {
    try {
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

let mosquittoCache: { path: string | undefined } | undefined

/** The `mosquitto` binary (PATH, then /usr/sbin/mosquitto), or undefined when it is not installed. */
export function mosquittoPath(): string | undefined {
  mosquittoCache ??= { path: findExecutable('mosquitto', ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto']) }
  return mosquittoCache.path
}

function mosquittoPasswdPath(): string | undefined {
  const beside = mosquittoPath()
  return findExecutable('mosquitto_passwd', [
    ...(beside === undefined ? [] : [join(dirname(beside), 'mosquitto_passwd')]),
    '/usr/bin/mosquitto_passwd',
    '/usr/sbin/mosquitto_passwd',
  ])
}

// ---------------------------------------------------------------------------------------------------------------
// no leaks: children and temp dirs die with this process

const liveChildren = new Set<ChildProcess>()
const liveDirs = new Set<string>()
let exitHookInstalled = false

function killEverything(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  liveChildren.clear()
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // best effort
    }
  }
  liveDirs.clear()
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', killEverything)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killEverything()
      // keep the default behaviour (die by the signal) unless someone else handles it
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// aedes

/** aedes in-process (MQTT 3.1.1 only). `restart` re-creates it on the same port; sessions do not survive. */
export async function startAedes(opts: StartOptions = {}): Promise<TestBroker> {
  let current: EmbeddedBroker | undefined = await startEmbeddedBroker({ host: HOST, port: opts.port ?? 0 })
  const port = current.port
  let closed = false

  const stop = async (): Promise<void> => {
    const broker = current
    current = undefined
    if (broker === undefined) return
    await broker.close()
    await waitForPortClosed(port, 'aedes')
  }
  const restart = async (): Promise<void> => {
    if (closed) throw new Error('aedes: restart after close')
    await stop()
    current = await startEmbeddedBroker({ host: HOST, port })
  }
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      closed = true
      await stop()
    })())

  return { kind: 'aedes', host: HOST, port, url: `mqtt://${HOST}:${port}`, stop, restart, close }
}

// ---------------------------------------------------------------------------------------------------------------
// Mosquitto

class StartFailed extends Error {
  constructor(
    message: string,
    /** Mosquitto exited with "Address already in use": worth another port. */
    readonly portTaken: boolean,
  ) {
    super(message)
  }
}

/** Keeps the last STDERR_KEEP bytes a child wrote. */
class Tail {
  private chunks: Buffer[] = []
  private size = 0
  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.size += chunk.length
    while (this.size > STDERR_KEEP && this.chunks.length > 1) this.size -= this.chunks.shift()?.length ?? 0
  }
  text(): string {
    const all = Buffer.concat(this.chunks)
    return all.subarray(Math.max(0, all.length - STDERR_KEEP)).toString('utf8').trim()
  }
}

function mosquittoConfig(port: number, o: MosquittoOptions, passwordFile: string | undefined): string {
  const lines = [
    `listener ${port} ${HOST}`,
    `allow_anonymous ${passwordFile === undefined ? 'true' : 'false'}`,
    ...(passwordFile === undefined ? [] : [`password_file ${passwordFile}`]),
    'persistence false',
    `sys_interval ${o.sysInterval ?? 1}`,
    `log_dest ${o.log === false ? 'none' : 'stderr'}`,
    ...(o.log === false ? [] : ['log_type error', 'log_type warning', 'log_type notice', 'log_type information']),
    ...(o.extraConfig ?? []),
  ]
  return lines.join('\n') + '\n'
}

async function writePasswordFile(dir: string, users: Record<string, string>): Promise<string> {
  const passwd = mosquittoPasswdPath()
  if (passwd === undefined) throw new Error('mosquitto_passwd not found (needed for users)')
  const file = join(dir, 'passwd')
  const entries = Object.entries(users)
  if (entries.length === 0) {
    await writeFile(file, '') // nobody may log in
  }
  for (const [i, [user, password]] of entries.entries()) {
    const args = i === 0 ? ['-b', '-c', file, user, password] : ['-b', file, user, password]
    await execFileAsync(passwd, args)
  }
  // Mosquitto started as root drops privileges before it reads the password file
  await chmod(file, 0o644)
  return file
}

interface Running {
  child: ChildProcess
  exited: Promise<void>
  hasExited: () => boolean
  /** Mosquitto logged "mosquitto version … running": its listeners are open (only known when it logs). */
  saidRunning: () => boolean
  /** The last few KB this process wrote. */
  output: () => string
}

function spawnMosquitto(binary: string, conf: string): Running {
  const tail = new Tail()
  const child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
  liveChildren.add(child)
  let gone = false
  const exited = new Promise<void>((resolve) => {
    // 'close', not 'exit': the last words on stderr (e.g. "Address already in use") may arrive after 'exit'
    child.once('close', (code, signal) => {
      gone = true
      liveChildren.delete(child)
      tail.push(Buffer.from(`\n[mosquitto exited: ${signal ?? `code ${String(code)}`}]\n`))
      resolve()
    })
    child.once('error', (err) => {
      // spawn failure: no 'exit' follows
      gone = true
      liveChildren.delete(child)
      tail.push(Buffer.from(`\n[spawn failed: ${err.message}]\n`))
      resolve()
    })
  })
  let head = ''
  const onData = (chunk: Buffer): void => {
    tail.push(chunk)
    if (head.length < 16 * 1024) head += chunk.toString('utf8')
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  return {
    child,
    exited,
    hasExited: () => gone,
    saidRunning: () => /mosquitto version \S+ running/.test(head),
    output: () => tail.text(),
  }
}

/** A forgotten broker must not keep the test worker alive; the exit hook kills it. */
function detach(child: ChildProcess): void {
  child.unref()
  for (const stream of [child.stdout, child.stderr]) if (stream instanceof Socket) stream.unref()
}

/**
 * Ready when the port accepts TCP and, if Mosquitto logs, once it said it is running: a port that accepts while
 * Mosquitto is still failing to bind belongs to someone else.
 */
async function waitUntilAccepting(port: number, run: Running, logs: boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  const exitedEarly = (): StartFailed =>
    new StartFailed(
      `mosquitto on port ${port} exited during start:\n${run.output()}`,
      /Address already in use/.test(run.output()),
    )
  for (;;) {
    if (run.hasExited()) {
      throw exitedEarly()
    }
    if ((!logs || run.saidRunning()) && (await portAccepts(port))) {
      await sleep(POLL_MS) // a failed bind exits at once: give it a moment to show
      if (run.hasExited()) {
        throw exitedEarly()
      }
      return
    }
    if (Date.now() > deadline) {
      throw new StartFailed(`mosquitto on port ${port} did not accept TCP within ${START_TIMEOUT_MS} ms:\n${run.output()}`, false)
    }
    await sleep(POLL_MS)
  }
}

/**
 * Mosquitto as a child process (not daemonised) on 127.0.0.1 with a fresh temp dir for its config and password
 * file. Rejects when the binary is missing, or with the broker's stderr when it does not come up within 5 s.
 */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<TestBroker> {
  const binary = mosquittoPath()
  if (binary === undefined) throw new Error('mosquitto is not installed (check mosquittoPath() first)')
  installExitHook()

  const dir = await mkdtemp(join(tmpdir(), 'mqtt-mcp-mosquitto-'))
  liveDirs.add(dir)
  let removed = false
  const removeDir = async (): Promise<void> => {
    if (removed) return
    removed = true
    liveDirs.delete(dir)
    await rm(dir, { recursive: true, force: true })
  }

  const conf = join(dir, 'mosquitto.conf')
  let run: Running | undefined
  let port = opts.port ?? 0
  try {
    await chmod(dir, 0o755)
    const passwordFile = opts.users === undefined ? undefined : await writePasswordFile(dir, opts.users)
    // a port from freePort() may be taken before Mosquitto binds it: try a few when the caller did not pick one
    if (opts.port !== undefined && (await portAccepts(opts.port))) {
      throw new Error(`mosquitto: port ${opts.port} is already taken`)
    }
    for (let attempt = 1; ; attempt++) {
      if (opts.port === undefined) port = await freePort()
      await writeFile(conf, mosquittoConfig(port, opts, passwordFile))
      chmodSync(conf, 0o644)
      const candidate = spawnMosquitto(binary, conf)
      try {
        await waitUntilAccepting(port, candidate, opts.log !== false)
        run = candidate
        break
      } catch (err) {
        candidate.child.kill('SIGKILL')
        await candidate.exited
        const retry = err instanceof StartFailed && err.portTaken && opts.port === undefined && attempt < 3
        if (!retry) throw err
      }
    }
  } catch (err) {
    await removeDir()
    throw err
  }
  detach(run.child)

  let closed = false

  const stop = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> => {
    const current = run
    run = undefined
    if (current === undefined) return
    if (!current.hasExited()) current.child.kill(signal)
    const timer = setTimeout(() => current.child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await current.exited
    clearTimeout(timer)
    await waitForPortClosed(port, 'mosquitto')
  }

  const restart = async (): Promise<void> => {
    if (closed) throw new Error('mosquitto: restart after close')
    await stop()
    const candidate = spawnMosquitto(binary, conf)
    try {
      await waitUntilAccepting(port, candidate, opts.log !== false)
    } catch (err) {
      candidate.child.kill('SIGKILL')
      await candidate.exited
      throw err
    }
    detach(candidate.child)
    run = candidate
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      closed = true
      try {
        await stop()
      } finally {
        await removeDir()
      }
    })())

  return { kind: 'mosquitto', host: HOST, port, url: `mqtt://${HOST}:${port}`, stop, restart, close }
}

// ---------------------------------------------------------------------------------------------------------------
// matrix

export interface MatrixEntry {
  readonly name: BrokerKind
  readonly start: (opts?: StartOptions) => Promise<TestBroker>
}

/** aedes always; Mosquitto when the binary is installed. */
export function brokerMatrix(): MatrixEntry[] {
  const entries: MatrixEntry[] = [{ name: 'aedes', start: startAedes }]
  if (mosquittoPath() !== undefined) entries.push({ name: 'mosquitto', start: startMosquitto })
  return entries
}
