/**
 * The broker under the bench: Mosquitto when it is installed (started here, on 127.0.0.1 and a free port, with
 * its default queue limits), otherwise aedes in a worker process of its own. Never the system's 1883.
 *
 * A small copy of what test/helpers/brokers.ts does rather than an import of it: bench code does not depend
 * on test code, and the bench needs none of the helpers' restart and fault machinery.
 */
import { execFile, spawn } from 'node:child_process'
import { accessSync, constants as fsConstants, readFileSync, rmSync } from 'node:fs'
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { atExit, forkWorker, kill, nextMessage, sleep, track, untrack } from './children.js'

const HOST = '127.0.0.1'
const START_TIMEOUT_MS = 5000

export interface Broker {
  readonly kind: 'mosquitto' | 'aedes'
  readonly url: string
  readonly version: string
  readonly pid: number | undefined
  /** The configuration it runs with (Mosquitto: the conf file's lines). */
  readonly config: readonly string[]
  close(): Promise<void>
}

export function mosquittoPath(): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '')
  for (const candidate of [...dirs.map((d) => join(d, 'mosquitto')), '/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto']) {
    try {
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** `mosquitto -h` prints "mosquitto version 2.0.11" first (and exits with 3). */
export function mosquittoVersion(binary: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(binary, ['-h'], { timeout: 5000 }, (_e, stdout) => resolve(/mosquitto version (\S+)/.exec(String(stdout))?.[1] ?? 'unknown'))
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: HOST })
    const done = (ok: boolean): void => {
      socket.removeAllListeners()
      socket.on('error', () => undefined)
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

export async function startMosquitto(binary: string): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'mqtt-mcp-bench-'))
  const forgetDir = atExit(() => rmSync(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755) // Mosquitto started as root drops privileges before reading its files
  const version = await mosquittoVersion(binary)
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const config = [
      `listener ${port} ${HOST}`,
      'allow_anonymous true',
      'persistence false',
      // $SYS/broker/subscriptions/count each second (the windows scenario reads it)
      'sys_interval 1',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information', // "mosquitto version … running" says its listener is open
      // queue and in-flight limits stay at Mosquitto's defaults (max_queued_messages 1000, max_inflight_messages 20):
      // what users run, and what makes a subscriber that falls behind lose QoS 0 messages
    ]
    const conf = join(dir, 'mosquitto.conf')
    await writeFile(conf, config.join('\n') + '\n', { mode: 0o644 })
    const child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    track(child.pid)
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8')
    })
    let exited = false
    const gone = new Promise<void>((resolve) => child.once('close', () => ((exited = true), untrack(child.pid), resolve())))
    const deadline = Date.now() + START_TIMEOUT_MS
    while (!exited && !(/running/.test(stderr) && (await portAccepts(port))) && Date.now() < deadline) await sleep(25)
    await sleep(25) // a failed bind exits at once
    if (exited || Date.now() >= deadline) {
      kill(child.pid)
      await gone
      if (/Address already in use/.test(stderr) && attempt < 3) continue
      forgetDir()
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`mosquitto did not start on port ${port}:\n${stderr.trim()}`)
    }
    return {
      kind: 'mosquitto',
      url: `mqtt://${HOST}:${port}`,
      version,
      pid: child.pid,
      config,
      close: async () => {
        if (!exited) child.kill('SIGTERM')
        const timer = setTimeout(() => kill(child.pid), 3000)
        await gone
        clearTimeout(timer)
        forgetDir()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
}

export async function startAedesWorker(): Promise<Broker> {
  const child = forkWorker('aedes')
  const { port } = await nextMessage(child, (m): m is { type: 'listening'; port: number } => (m as { type?: string }).type === 'listening', START_TIMEOUT_MS, 'aedes')
  // aedes' package.json is not in its exports map: read it from node_modules
  const packageJson = fileURLToPath(new URL('../../node_modules/aedes/package.json', import.meta.url))
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version
  const gone = child.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    kind: 'aedes',
    url: `mqtt://${HOST}:${port}`,
    version,
    pid: child.pid,
    config: ['aedes defaults, in a worker process'],
    close: async () => {
      kill(child.pid)
      await gone
    },
  }
}

/** Mosquitto when installed (or asked for), aedes otherwise. */
export async function startBroker(prefer: 'mosquitto' | 'aedes' | undefined): Promise<Broker> {
  const binary = mosquittoPath()
  if (prefer === 'aedes' || binary === undefined) {
    if (prefer === 'mosquitto') throw new Error('--broker mosquitto: mosquitto is not installed')
    return startAedesWorker()
  }
  return startMosquitto(binary)
}
