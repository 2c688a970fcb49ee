/**
 * `npm run bench [-- --quick] [--only <scenario>[,<scenario>…]] [--profile] [--broker mosquitto|aedes]`
 *
 * Starts a broker, measures the ceiling (a plain mqtt.js subscriber), runs each scenario against the built
 * server (`node dist/main.js` over stdio, driven by the SDK Client), prints a table and writes
 * bench/results/latest.json. Targets are goals, not assertions: the exit code is 0 unless a scenario failed
 * to run. Every process the bench starts is killed at the end, on errors and on Ctrl-C.
 */
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { startBroker, type Broker } from './broker.js'
import { prewarmWorkers, sleep, stopWorkers } from './children.js'
import { summariseProfiles, type ProfileSummary } from './profile.js'
import { LATEST_JSON, loadAverage, machineInfo, renderMachine, renderTable, writeResults } from './report.js'
import { SIZES, type BenchContext, type Ceiling, type Scenario, type ScenarioResult } from './scenario.js'
import { ceiling, measureCeiling } from './scenarios/ceiling.js'
import { collectLong } from './scenarios/collect-long.js'
import { collect } from './scenarios/collect.js'
import { cpuNormal } from './scenarios/cpu-normal.js'
import { discover } from './scenarios/discover.js'
import { feed } from './scenarios/feed.js'
import { memory } from './scenarios/memory.js'
import { payloadMix } from './scenarios/payload-mix.js'
import { rpc } from './scenarios/rpc.js'
import { startup } from './scenarios/startup.js'
import { windows } from './scenarios/windows.js'
import { BenchServer, REPO_ROOT, SERVER_ENTRY } from './server.js'

/** In the order they run and are reported. */
const SCENARIOS: readonly Scenario[] = [ceiling, collect, collectLong, payloadMix, discover, windows, feed, rpc, startup, memory, cpuNormal]

const USAGE = `usage: npm run bench -- [--quick] [--only <scenario>[,<scenario>…]] [--profile] [--broker mosquitto|aedes] [--verbose]
  --quick     small sizes (CI): the whole run within 60 s
  --only      run these scenarios only: ${SCENARIOS.map((s) => s.name).join(', ')}
              (the ceiling is measured anyway when a scenario needs it)
  --profile   run the server under --cpu-prof; profiles in bench/results/profiles/<scenario>/, summarised
  --broker    mosquitto (default when installed) or aedes (in a process of its own)
  --verbose   log the phases of every window (granted, published, answered)
  --server-env KEY=VALUE   extra environment for every server started (repeatable), e.g. MQTT_MCP_HTTP=false`

/** A run that takes longer than this is stuck: everything is killed and the bench fails. */
const DEADLINE_MS = { quick: 150_000, full: 20 * 60_000 }

interface Options {
  readonly quick: boolean
  readonly only: string[] | undefined
  readonly profile: boolean
  readonly broker: 'mosquitto' | 'aedes' | undefined
  readonly serverEnv: Record<string, string>
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      profile: { type: 'boolean', default: false },
      broker: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'server-env': { type: 'string', multiple: true },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  if (values.verbose) process.env['BENCH_VERBOSE'] = '1'
  const only = values.only?.flatMap((o) => o.split(',')).map((o) => o.trim()).filter((o) => o !== '')
  for (const name of only ?? []) {
    if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`--only ${name}: no such scenario (${SCENARIOS.map((s) => s.name).join(', ')})`)
  }
  if (values.broker !== undefined && values.broker !== 'mosquitto' && values.broker !== 'aedes') throw new Error(`--broker ${values.broker}: mosquitto or aedes`)
  const serverEnv: Record<string, string> = {}
  for (const pair of values['server-env'] ?? []) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new Error(`--server-env ${pair}: expected KEY=VALUE`)
    serverEnv[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return { quick: values.quick, only, profile: values.profile, broker: values.broker, serverEnv }
}

const log = (line: string): void => console.error(`[bench ${(performance.now() / 1000).toFixed(1).padStart(5)} s] ${line}`)

async function main(): Promise<number> {
  const options = parseOptions()
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${SERVER_ENTRY} is missing: run \`npm run build\` first (npm run bench does)`)
  const sizes = options.quick ? SIZES.quick : SIZES.full
  const deadline = setTimeout(() => {
    console.error(`bench: still running after ${DEADLINE_MS[options.quick ? 'quick' : 'full'] / 1000} s; stopping everything`)
    process.exit(1) // the exit hook kills every process the bench started
  }, DEADLINE_MS[options.quick ? 'quick' : 'full'])
  deadline.unref()

  const profileRoot = join(REPO_ROOT, 'bench', 'results', 'profiles')
  if (options.profile) rmSync(profileRoot, { recursive: true, force: true })

  const started = performance.now()
  const startedAt = new Date().toISOString()
  const loadAtStart = loadAverage()
  log(`starting the broker (${options.broker ?? 'mosquitto when installed'})`)
  prewarmWorkers()
  const broker: Broker = await startBroker(options.broker)
  log(`${broker.kind} ${broker.version} on ${broker.url}`)

  const ceilings = new Map<0 | 1, Ceiling>()
  const results: ScenarioResult[] = []
  let current = ''
  const ctx: BenchContext = {
    broker,
    quick: options.quick,
    sizes,
    startServer: (env) => BenchServer.start({ env: { ...options.serverEnv, ...env }, ...(options.profile ? { profileDir: join(profileRoot, current) } : {}) }),
    pause: (ms) => sleep(options.quick ? ms / 4 : ms),
    ceiling: async (qos) => {
      let c = ceilings.get(qos)
      if (c === undefined) {
        log(`measuring the ceiling at QoS ${qos}`)
        c = await measureCeiling(ctx, qos, qos === 0 ? sizes.ceilingMessages : sizes.ceilingQos1Messages)
        ceilings.set(qos, c)
        log(`ceiling QoS ${qos}: ${Math.round(c.rate)} msg/s, ${c.cpuUsPerMessage.toFixed(2)} µs/msg, ${c.lost} lost`)
      }
      return c
    },
    log,
  }

  try {
    for (const scenario of SCENARIOS) {
      if (options.only !== undefined && !options.only.includes(scenario.name)) continue
      current = scenario.name
      log(`${scenario.name}: ${scenario.what}`)
      const t0 = performance.now()
      let result: ScenarioResult
      try {
        const outcome = await scenario.run(ctx)
        result = { name: scenario.name, what: scenario.what, seconds: (performance.now() - t0) / 1000, ...outcome }
      } catch (e) {
        const error = e instanceof Error ? (e.stack ?? e.message) : String(e)
        log(`${scenario.name} FAILED: ${error}`)
        result = { name: scenario.name, what: scenario.what, seconds: (performance.now() - t0) / 1000, figures: [], details: {}, error }
      }
      if (options.profile) {
        const profiles: ProfileSummary[] = summariseProfiles(join(profileRoot, scenario.name))
        if (profiles.length > 0) {
          result = { ...result, profile: profiles }
          for (const p of profiles) printProfile(scenario.name, p)
        }
      }
      results.push(result)
      log(`${scenario.name} done in ${result.seconds.toFixed(1)} s`)
    }
  } finally {
    stopWorkers()
    await broker.close().catch(() => undefined)
  }

  const machine = machineInfo(broker, loadAtStart)
  const seconds = (performance.now() - started) / 1000
  const opts = { quick: options.quick, only: options.only ?? 'all', profile: options.profile, serverEnv: options.serverEnv, sizes }
  writeResults(LATEST_JSON, { machine, options: opts, startedAt, seconds, ceilings: Object.fromEntries([...ceilings].map(([q, c]) => [`qos${q}`, c])), scenarios: results })
  console.log('')
  console.log(renderTable(results))
  console.log('')
  console.log(renderMachine(machine, { quick: options.quick, only: options.only ?? 'all', profile: options.profile, serverEnv: options.serverEnv }))
  console.log(`targets are goals, not assertions; ${results.length} scenarios in ${seconds.toFixed(1)} s; every figure in ${LATEST_JSON}`)
  return results.some((r) => r.error !== undefined) ? 1 : 0
}

function printProfile(scenario: string, p: ProfileSummary): void {
  console.error(`\nprofile of the server in ${scenario}: ${p.busyMs} ms busy of ${p.totalMs} ms (${p.file})`)
  for (const f of p.topFunctions.slice(0, 12)) console.error(`  ${String(f.selfMs).padStart(6)} ms ${f.share.toFixed(1).padStart(5)} %  ${f.name}  ${f.where}`)
  console.error('  by package: ' + p.byPackage.slice(0, 8).map((x) => `${x.name} ${x.share} %`).join(', '))
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    process.exit(1)
  },
)
