/**
 * Reads the V8 CPU profiles the server leaves with `--profile` (node --cpu-prof) and summarises where its time
 * went: the functions with the most self time, and self time per package (node_modules/<name>, the server's own
 * src/ folders, node internals, GC). dist/ is an esbuild bundle: positions in it are mapped back to their source
 * files through the source maps beside each chunk.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; hitCount?: number }>
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

export interface ProfileSummary {
  readonly file: string
  readonly totalMs: number
  /** Busy time: everything but (idle) and (program) wait. */
  readonly busyMs: number
  readonly topFunctions: Array<{ name: string; where: string; selfMs: number; share: number }>
  readonly byPackage: Array<{ name: string; selfMs: number; share: number }>
}

function packageOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  if (url.startsWith('node:')) return 'node:internal'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm !== null) return nm[1]!
  const own = /(?:^|\/)(?:src|dist)\/(.+)$/.exec(url)
  if (own !== null) return `server:${own[1]!.split('/')[0]}`
  return url.replace(/^file:\/\//, '')
}

/** Maps a position in a bundled file to its source file and line, through the `.map` beside it (cached per file). */
function sourceMapper(): (url: string, line: number, column: number) => { url: string; line: number } | undefined {
  const maps = new Map<string, SourceMap | undefined>()
  return (url, line, column) => {
    if (!url.startsWith('file://') || !url.includes('/dist/')) return undefined
    let map = maps.get(url)
    if (!maps.has(url)) {
      const file = `${fileURLToPath(url)}.map`
      map = existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]) : undefined
      maps.set(url, map)
    }
    const entry = map?.findEntry(line, column) as { originalSource?: string; originalLine?: number } | undefined
    if (entry?.originalSource === undefined) return undefined
    return { url: entry.originalSource.replace(/^(?:\.\.\/)+/, ''), line: entry.originalLine ?? 0 }
  }
}

export function summariseProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const selfUs = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, deltas[i + 1] ?? 0))
  const byFunction = new Map<string, { name: string; where: string; us: number }>()
  const byPackage = new Map<string, number>()
  let total = 0
  let idle = 0
  const mapped = sourceMapper()
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0
    if (us === 0) continue
    total += us
    const { functionName, columnNumber } = node.callFrame
    const source = mapped(node.callFrame.url, node.callFrame.lineNumber, columnNumber)
    const url = source?.url ?? node.callFrame.url
    const lineNumber = source?.line ?? node.callFrame.lineNumber
    const name = functionName === '' ? '(anonymous)' : functionName
    if (name === '(idle)' || name === '(program)') idle += us
    const where = url === '' ? '' : `${url.replace(/^file:\/\/.*?\/(node_modules|dist|src)\//, '$1/')}:${lineNumber + 1}`
    const key = `${name} ${where}`
    const entry = byFunction.get(key) ?? { name, where, us: 0 }
    entry.us += us
    byFunction.set(key, entry)
    const pkg = packageOf(url, name)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
  }
  const busy = total - idle
  const share = (us: number): number => (busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0)
  return {
    file,
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    topFunctions: [...byFunction.values()]
      .filter((f) => f.name !== '(idle)' && f.name !== '(program)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: Math.round(f.us / 1000), share: share(f.us) })),
    byPackage: [...byPackage.entries()]
      .filter(([name]) => name !== '(idle)' && name !== '(program)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), share: share(us) })),
  }
}

/** Every .cpuprofile in `dir`, summarised. */
export function summariseProfiles(dir: string): ProfileSummary[] {
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  } catch {
    return []
  }
  return files.map((f) => summariseProfile(join(dir, f)))
}
