/** The results: a table on the terminal and bench/results/latest.json with the machine and every figure. */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import type { Broker } from './broker.js'
import type { Figure, ScenarioResult } from './scenario.js'
import { REPO_ROOT } from './server.js'

export interface Machine {
  readonly cpus: number
  readonly cpuModel: string
  readonly memoryMB: number
  readonly freeMemoryMB: number
  /** 1, 5 and 15 minute load averages when the run started and ended: other work shares this machine. */
  readonly loadAverageStart: number[]
  readonly loadAverageEnd: number[]
  readonly os: string
  readonly node: string
  readonly broker: { kind: string; version: string; config: readonly string[] }
  readonly packages: Record<string, string>
  readonly server: { version: string; commit: string }
}

const PACKAGES = ['@modelcontextprotocol/sdk', 'mqtt', 'rxjs', 'aedes', 'io-ts', 'fp-ts', 'typescript']

function versionIn(packageJson: string): string {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

const packageVersion = (name: string): string => versionIn(join(REPO_ROOT, 'node_modules', name, 'package.json'))

/** The machine, versions and commit; `loadAverageStart` as read when the run began. */
export function machineInfo(broker: Broker, loadAverageStart: number[]): Machine {
  const cpuList = cpus()
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    if (dirty.trim() !== '') commit += ' (with uncommitted changes)'
  } catch {
    // not a git checkout
  }
  return {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryMB: Math.round(totalmem() / 2 ** 20),
    freeMemoryMB: Math.round(freemem() / 2 ** 20),
    loadAverageStart,
    loadAverageEnd: loadAverage(),
    os: `${platform()} ${release()}`,
    node: process.version,
    broker: { kind: broker.kind, version: broker.version, config: broker.config },
    packages: Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p)])),
    server: { version: versionIn(join(REPO_ROOT, 'package.json')), commit },
  }
}

/** 1, 5 and 15 minute load averages, rounded. */
export const loadAverage = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100)

// ---------------------------------------------------------------------------------------------------------------
// terminal

function formatValue(f: Figure): string {
  if (f.value === null || Number.isNaN(f.value)) return 'n/a'
  const n = Math.abs(f.value) >= 1000 ? Math.round(f.value).toLocaleString('en-US') : String(f.value)
  return f.unit === '' ? n : `${n} ${f.unit}`
}

function formatRatio(f: Figure): string {
  if (f.ratio === undefined || Number.isNaN(f.ratio)) return ''
  return `${f.ratio.toFixed(2)}× ${f.ratioTo ?? ''}`.trim()
}

function verdict(f: Figure): string {
  if (f.met === undefined) return ''
  return f.met ? 'ok' : 'MISS'
}

/** The table: one line per figure, grouped by scenario. */
export function renderTable(results: readonly ScenarioResult[]): string {
  const rows: string[][] = [['scenario', 'figure', 'value', 'ratio', 'target', '']]
  for (const r of results) {
    if (r.error !== undefined) {
      rows.push([r.name, `FAILED: ${r.error.split('\n')[0]!.slice(0, 100)}`, '', '', '', 'ERROR'])
      continue
    }
    r.figures.forEach((f, i) => rows.push([i === 0 ? r.name : '', f.label, formatValue(f), formatRatio(f), f.target ?? '', verdict(f)]))
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  const line = (row: string[]): string => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  const out = [line(rows[0]!), rule]
  let previous = ''
  for (const row of rows.slice(1)) {
    if (row[0] !== '' && previous !== '') out.push('')
    out.push(line(row))
    previous = row[0] !== '' ? row[0]! : previous
  }
  return out.join('\n')
}

export function renderMachine(m: Machine, options: Record<string, unknown>): string {
  const pkgs = Object.entries(m.packages)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  return [
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryMB} MB, ${m.os}; load average at start ${m.loadAverageStart.join(' / ')}, at end ${m.loadAverageEnd.join(' / ')}`,
    `node ${m.node}; broker ${m.broker.kind} ${m.broker.version}; server ${m.server.version} @ ${m.server.commit}`,
    `packages: ${pkgs}`,
    `options: ${JSON.stringify(options)}`,
  ].join('\n')
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

export const LATEST_JSON = join(REPO_ROOT, 'bench', 'results', 'latest.json')

export function writeResults(
  file: string,
  body: { machine: Machine; options: Record<string, unknown>; startedAt: string; seconds: number; ceilings: Record<string, unknown>; scenarios: readonly ScenarioResult[] },
): void {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n')
}
