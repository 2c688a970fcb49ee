/**
 * The server as an assistant drives it: `node dist/main.js` spawned over stdio and an SDK Client, plus what can
 * be seen of it from outside: CPU time and RSS from /proc/<pid>. With `profileDir` the server runs under
 * `--cpu-prof` and leaves a .cpuprofile there when it exits.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { ListToolsResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { kill, track, untrack } from './children.js'

/** The repository root (this file runs from .build/bench/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const SERVER_ENTRY = fileURLToPath(new URL('../../dist/main.js', import.meta.url))

/**
 * Settings every bench server gets unless a scenario overrides them. The status server stays on, as assistants
 * run it, but on a free port: 8091 may belong to another server on this machine.
 */
const BASE_ENV: Record<string, string> = {
  MQTT_MCP_LOG_LEVEL: 'warn',
  MQTT_MCP_MAX_MESSAGES: '1000000',
  MQTT_MCP_MAX_SESSIONS: '25',
  MQTT_MCP_HTTP_PORT: '0',
}

// ---------------------------------------------------------------------------------------------------------------
// /proc

let clockTicks: number | undefined

/** `getconf CLK_TCK` (100 nearly everywhere). */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/**
 * CPU time of every thread of `pid`, in ms: the sum of /proc/<pid>/task/<tid>/schedstat (ns, exact), or
 * utime + stime from /proc/<pid>/stat (10 ms ticks) where schedstat is missing.
 */
export function procCpuMs(pid: number): number {
  try {
    let ns = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
      } catch {
        // the thread ended between the listing and the read
      }
    }
    if (ns > 0) return ns / 1e6
  } catch {
    // no schedstat here: fall back to ticks
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name may hold spaces and parentheses: fields are counted after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12]) // fields 14 and 15 of proc(5)
  return (ticks * 1000) / clkTck()
}

/** VmRSS of `pid`, in bytes. */
export function procRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(kb) * 1024
}

/**
 * TCP ports `pid` listens on, from its socket descriptors and /proc/<pid>/net/tcp{,6}: how the bench finds the
 * status server, which listens on a free port (MQTT_MCP_HTTP_PORT=0) and says where only at log level info.
 */
export function procListeningPorts(pid: number): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]
      if (inode !== undefined) inodes.add(inode)
    } catch {
      // closed between the listing and the read
    }
  }
  const ports: number[] = []
  for (const table of ['tcp', 'tcp6']) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
    } catch {
      continue // no IPv6 here
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st … inode (proc(5)): st 0A is LISTEN, the port is the hex after ':'
      const f = line.trim().split(/\s+/)
      if (f[3] === '0A' && f[9] !== undefined && inodes.has(f[9])) ports.push(parseInt(f[1]!.split(':')[1]!, 16))
    }
  }
  return ports
}

export const MB = 1024 * 1024

/** Samples a process's RSS every `everyMs` until stopped: the peak between two moments. */
export class RssSampler {
  private readonly timer: NodeJS.Timeout
  private readonly samples: number[] = []

  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.sample()
    this.timer = setInterval(() => this.sample(), everyMs)
  }

  private sample(): void {
    try {
      this.samples.push(procRssBytes(this.pid))
    } catch {
      // the process ended
    }
  }

  /** Stops sampling; first, peak and last RSS in bytes. */
  stop(): { first: number; peak: number; last: number; samples: number } {
    clearInterval(this.timer)
    this.sample()
    return { first: this.samples[0] ?? 0, peak: Math.max(0, ...this.samples), last: this.samples.at(-1) ?? 0, samples: this.samples.length }
  }
}

/** CPU time of a process between `start()` and `stop()`, with the wall time. */
export function cpuMeter(pid: number): { stop(): { cpuMs: number; wallMs: number } } {
  const cpu0 = procCpuMs(pid)
  const wall0 = performance.now()
  return { stop: () => ({ cpuMs: procCpuMs(pid) - cpu0, wallMs: performance.now() - wall0 }) }
}

// ---------------------------------------------------------------------------------------------------------------
// the server

export interface ServerOptions {
  /** Extra environment (MQTT_MCP_* settings). */
  readonly env?: Record<string, string>
  /** Run under --cpu-prof, writing the profile into this directory on exit. */
  readonly profileDir?: string
}

export interface ToolAnswer<T> {
  readonly isError: boolean
  readonly structured: T
  readonly text: string
  /** Round trip of the call, in ms. */
  readonly ms: number
}

export class BenchServer {
  private constructor(
    readonly client: Client,
    readonly pid: number,
    /** Spawn to `initialize` answered, in ms. */
    readonly startupMs: number,
    private readonly stderrTail: () => string,
    private readonly profiling: boolean,
  ) {}

  /** Spawns `node dist/main.js` and connects (initialize) over stdio. */
  static async start(opts: ServerOptions = {}): Promise<BenchServer> {
    const nodeFlags = opts.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`]
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [...nodeFlags, SERVER_ENTRY],
      env: { ...BASE_ENV, ...opts.env },
      stderr: 'pipe',
      cwd: REPO_ROOT,
    })
    let stderr = ''
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8192)
    })
    const client = new Client({ name: 'bitsperity-bench', version: '1.0.0' })
    const started = performance.now()
    const connecting = client.connect(transport)
    // the transport spawns synchronously inside connect(): track the pid before anything can hang
    const pid = transport.pid ?? undefined
    track(pid)
    try {
      await withTimeout(connecting, 20_000, 'the server did not answer initialize')
    } catch (e) {
      kill(pid)
      throw new Error(`${(e as Error).message}\n${stderr.trim()}`, { cause: e })
    }
    const startupMs = performance.now() - started
    if (pid === undefined) throw new Error('the server process has no pid')
    return new BenchServer(client, pid, startupMs, () => stderr, opts.profileDir !== undefined)
  }

  /** Calls a tool; `timeoutMs` bounds the call (windows last up to 300 s). */
  async call<T = Record<string, unknown>>(name: string, args: Record<string, unknown>, timeoutMs = 30_000): Promise<ToolAnswer<T>> {
    const started = performance.now()
    // an onprogress handler makes the SDK send a progressToken, as assistants do: windows report each second
    const r = (await this.client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs, onprogress: () => undefined })) as CallToolResult
    const ms = performance.now() - started
    const first = r.content[0]
    const text = first !== undefined && first.type === 'text' ? first.text : ''
    return { isError: r.isError === true, structured: r.structuredContent as T, text, ms }
  }

  /** Calls a tool and fails with its error text when it returns isError. */
  async ok<T = Record<string, unknown>>(name: string, args: Record<string, unknown>, timeoutMs = 30_000): Promise<ToolAnswer<T>> {
    const answer = await this.call<T>(name, args, timeoutMs)
    if (answer.isError) throw new Error(`${name} failed: ${answer.text}`)
    return answer
  }

  /**
   * Round trip of `tools/list`, in ms. A plain request: `Client.listTools()` also compiles an ajv validator for
   * every tool's outputSchema on each call (about 90 ms here), which is the client's time, not the server's.
   */
  async listToolsMs(): Promise<number> {
    const started = performance.now()
    await this.client.request({ method: 'tools/list' }, ListToolsResultSchema, { timeout: 30_000 })
    return performance.now() - started
  }

  /** Round trip of an MCP `ping`: stdio and scheduling alone, the floor under every other round trip. */
  async pingMs(): Promise<number> {
    const started = performance.now()
    await this.client.ping({ timeout: 30_000 })
    return performance.now() - started
  }

  /** Opens a session on `url` and returns its id. */
  async openSession(url: string, name = 'bench'): Promise<string> {
    const r = await this.ok<{ session_id: string }>('mqtt_establish_connection', { connection_string: url, name })
    return r.structured.session_id
  }

  /**
   * The status server's base URL (`http://127.0.0.1:<port>/`), once it listens and answers /health. It starts
   * after `initialize`, so this waits up to `timeoutMs`.
   */
  async statusUrl(timeoutMs = 10_000): Promise<string> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      for (const port of procListeningPorts(this.pid)) {
        const url = `http://127.0.0.1:${port}/`
        const health = await fetch(`${url}health`).then(
          (r) => (r.ok ? (r.json() as Promise<{ status?: string }>) : undefined),
          () => undefined,
        )
        if (health?.status === 'ok') return url
      }
      if (performance.now() > deadline) throw new Error(`the status server is not listening after ${timeoutMs} ms (MQTT_MCP_HTTP=false?)\n${this.stderrTail().trim()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  cpuMs(): number {
    return procCpuMs(this.pid)
  }

  rssBytes(): number {
    return procRssBytes(this.pid)
  }

  stderr(): string {
    return this.stderrTail()
  }

  /**
   * Ends the server. Under --cpu-prof it must exit by itself to write its profile: stdin is closed and the
   * server shuts down. Otherwise its shutdown is not what is measured, and SIGKILL saves a second per server.
   */
  async close(): Promise<void> {
    if (!this.profiling) {
      kill(this.pid)
      await withTimeout(this.client.close(), 6000, 'close').catch(() => undefined)
      return
    }
    // the transport waits for the exit, then sends SIGTERM and SIGKILL itself
    const closed = await withTimeout(this.client.close(), 6000, 'close').then(
      () => true,
      () => false,
    )
    if (closed) untrack(this.pid)
    else kill(this.pid)
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (after ${ms} ms)`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}
