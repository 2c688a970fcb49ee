/**
 * Every process the bench starts (broker, workers, servers) is registered here by pid and killed when the bench
 * ends, however it ends: normal exit, an error, Ctrl-C or SIGTERM. Only these pids are ever signalled.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const live = new Set<number>()
const cleanups = new Set<() => void>()
let installed = false

function killAll(): void {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
  for (const cleanup of cleanups) {
    try {
      cleanup()
    } catch {
      // best effort
    }
  }
  cleanups.clear()
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}, stopping every process it started`)
      killAll()
      process.exit(130)
    })
  }
}

/** Kills `pid` when the bench exits, unless `untrack` comes first. */
export function track(pid: number | undefined): void {
  install()
  if (pid !== undefined) live.add(pid)
}

export function untrack(pid: number | undefined): void {
  if (pid !== undefined) live.delete(pid)
}

/** Runs `fn` (synchronously) when the bench exits: temp dirs and the like. */
export function atExit(fn: () => void): () => void {
  install()
  cleanups.add(fn)
  return () => cleanups.delete(fn)
}

/** Sends SIGKILL to a tracked pid now (no-op when it is gone). */
export function kill(pid: number | undefined): void {
  if (pid === undefined) return
  untrack(pid)
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

export type WorkerName = 'publisher' | 'subscriber' | 'aedes'

/** Forks one of bench/workers/*.ts (compiled beside this file), tracked, with IPC. */
export function forkWorker(name: WorkerName): ChildProcess {
  const file = fileURLToPath(new URL(`./workers/${name}.js`, import.meta.url))
  const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
  track(child.pid)
  child.once('exit', () => untrack(child.pid))
  return child
}

/**
 * Publisher and subscriber workers are kept between runs: forking one and loading mqtt.js takes a second on a
 * busy machine, and a run takes one or two.
 */
const idleWorkers = new Map<WorkerName, ChildProcess[]>()

/** An idle worker of that kind, or a new one. Give it back with `releaseWorker`. */
export function acquireWorker(name: 'publisher' | 'subscriber'): ChildProcess {
  const pool = idleWorkers.get(name) ?? []
  idleWorkers.set(name, pool)
  for (let child = pool.pop(); child !== undefined; child = pool.pop()) if (child.connected && child.exitCode === null) return child
  return forkWorker(name)
}

/** Back into the pool after a run that ended well; killed otherwise (it may still be busy). */
export function releaseWorker(name: 'publisher' | 'subscriber', child: ChildProcess, healthy: boolean): void {
  if (healthy && child.connected && child.exitCode === null) idleWorkers.get(name)?.push(child)
  else kill(child.pid)
}

/** Starts one worker of each kind ahead of use (while the broker starts). */
export function prewarmWorkers(): void {
  for (const name of ['publisher', 'subscriber'] as const) releaseWorker(name, acquireWorker(name), true)
}

/** Kills every idle worker. */
export function stopWorkers(): void {
  for (const pool of idleWorkers.values()) for (const child of pool.splice(0)) kill(child.pid)
}

/** Resolves with the next IPC message of `child` that `accept` takes, rejects on exit or after `timeoutMs`. */
export function nextMessage<T>(child: ChildProcess, accept: (m: unknown) => m is T, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (m: unknown): void => {
      if (isFailure(m)) {
        done()
        reject(new Error(`${what}: ${m.error}`))
      } else if (accept(m)) {
        done()
        resolve(m)
      }
    }
    const onExit = (code: number | null, signal: string | null): void => {
      done()
      reject(new Error(`${what}: worker exited (${signal ?? `code ${String(code)}`})`))
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

function isFailure(m: unknown): m is { type: 'failed'; error: string } {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'failed'
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
