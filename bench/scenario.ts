/** What a scenario is, what it gets to work with, and what it reports. */
import type { Broker } from './broker.js'
import type { BenchServer } from './server.js'

/** How much each scenario does: `--quick` (CI, < 60 s in all) or the full run. */
export interface Sizes {
  readonly ceilingMessages: number
  readonly ceilingQos1Messages: number
  readonly collectMessages: number
  readonly collectQos1Messages: number
  readonly longMessages: number
  readonly mixMessages: number
  /** Publish rate of the payload-mix runs, msg/s (the same for both mixes). */
  readonly mixRate: number
  readonly discoverTopics: readonly number[]
  readonly windowsMessages: number
  /** Seconds of traffic per feed window, at 10,000 msg/s (or the QoS 0 ceiling when lower). */
  readonly feedSeconds: number
  readonly rpcProbes: number
  readonly rpcLoadSeconds: number
  readonly startupRuns: number
  readonly sessions: number
  readonly cpuNormalSeconds: number
}

export const SIZES: { readonly quick: Sizes; readonly full: Sizes } = {
  quick: {
    ceilingMessages: 30_000,
    ceilingQos1Messages: 5_000,
    collectMessages: 20_000,
    collectQos1Messages: 0, // QoS 1 only in the full run
    longMessages: 100_000,
    mixMessages: 3_000,
    mixRate: 5_000,
    discoverTopics: [10_000],
    windowsMessages: 10_000,
    feedSeconds: 1.5,
    rpcProbes: 15,
    rpcLoadSeconds: 1,
    startupRuns: 5,
    sessions: 5,
    cpuNormalSeconds: 10,
  },
  full: {
    ceilingMessages: 500_000,
    ceilingQos1Messages: 100_000,
    collectMessages: 500_000,
    collectQos1Messages: 100_000,
    longMessages: 1_000_000,
    mixMessages: 50_000,
    mixRate: 5_000,
    discoverTopics: [10_000, 100_000],
    windowsMessages: 200_000,
    feedSeconds: 20,
    rpcProbes: 100,
    rpcLoadSeconds: 5,
    startupRuns: 10,
    sessions: 10,
    cpuNormalSeconds: 60,
  },
}

/** The plain subscriber's figures on the 81-byte JSON over 1,000 topics. */
export interface Ceiling {
  readonly qos: 0 | 1
  readonly published: number
  readonly received: number
  readonly lost: number
  /** Messages per second received, first to last. */
  readonly rate: number
  readonly cpuUsPerMessage: number
  /** What the publisher achieved (a ceiling close to it may be the publisher's). */
  readonly publisherRate: number
  readonly publisherCpuUsPerMessage: number
}

export interface BenchContext {
  readonly broker: Broker
  readonly quick: boolean
  readonly sizes: Sizes
  /** Starts a server for this scenario (under --cpu-prof with --profile). */
  startServer(env?: Record<string, string>): Promise<BenchServer>
  /** The ceiling at `qos`: the ceiling scenario's figure, or measured now when it did not run. */
  ceiling(qos: 0 | 1): Promise<Ceiling>
  /** Lets the server settle (GC, timers) before a reading; a quarter as long with --quick. */
  pause(ms: number): Promise<void>
  log(line: string): void
}

/** One number in the results table. */
export interface Figure {
  readonly label: string
  readonly value: number | null
  readonly unit: string
  /** value / baseline, when there is a baseline. */
  readonly ratio?: number
  /** What the ratio is to: "ceiling", "bare node", "small JSON", "single window" … */
  readonly ratioTo?: string
  /** The goal, as text (goals, not assertions). */
  readonly target?: string
  /** Whether the goal was met; undefined when there is none. */
  readonly met?: boolean
}

export interface ScenarioOutcome {
  readonly figures: Figure[]
  /** Everything else measured, for latest.json. */
  readonly details: Record<string, unknown>
  readonly notes?: string[]
}

export interface Scenario {
  readonly name: string
  /** One line: what it measures. */
  readonly what: string
  run(ctx: BenchContext): Promise<ScenarioOutcome>
}

export interface ScenarioResult extends ScenarioOutcome {
  readonly name: string
  readonly what: string
  readonly seconds: number
  readonly error?: string
  readonly profile?: unknown
}
