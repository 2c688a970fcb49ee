/** Seeded randomness for the demo fleet, so two runs with the same seed publish the same values. */

/** The seed used when no random source is injected. */
export const DEFAULT_SEED = 0x6d717474

/** mulberry32: a tiny, fast PRNG with a 2^32 period, plenty for simulated sensors. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Shape of a mean-reverting random walk. */
export interface WalkOptions {
  readonly start: number
  /** Largest change per step, before the pull toward the mean. */
  readonly step: number
  readonly min: number
  readonly max: number
  /** Where the walk is pulled back to; `start` by default. */
  readonly mean?: number
  /** Fraction of the distance to the mean recovered per step (0..1); 0.05 by default. */
  readonly pull?: number
  /** One-sided noise for counters that only move one way (energy totals, filter life). */
  readonly trend?: 'up' | 'down'
}

/**
 * A random walk pulled back toward its mean: values drift smoothly like a real sensor instead of jumping
 * (uniform noise) or wandering off for good (a plain walk).
 */
export function randomWalk(random: () => number, opts: WalkOptions): () => number {
  const mean = opts.mean ?? opts.start
  const pull = opts.pull ?? 0.05
  let value = opts.start
  return () => {
    const noise = opts.trend === 'up' ? random() : opts.trend === 'down' ? -random() : random() * 2 - 1
    value += (mean - value) * pull + noise * opts.step
    value = Math.min(opts.max, Math.max(opts.min, value))
    return value
  }
}

/** Rounds to `digits` decimals, returning a number that serialises without float noise. */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** True with probability p. */
export function chance(random: () => number, p: number): boolean {
  return random() < p
}

/** An integer in [min, max]. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1))
}
