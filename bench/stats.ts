/** Small statistics for the figures: percentiles, medians, rounding. */

/** The p-th percentile (0..100) by nearest rank; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export const median = (samples: readonly number[]): number => percentile(samples, 50)

/** Rounds to `digits` significant-looking decimals for the JSON (keeps integers whole). */
export function round(x: number, decimals = 2): number {
  if (!Number.isFinite(x)) return x
  const f = 10 ** decimals
  return Math.round(x * f) / f
}

/** p50 / p99 / max / count of latency samples in ms. */
export function latencySummary(samples: readonly number[]): { p50: number; p99: number; max: number; count: number } {
  return {
    p50: round(percentile(samples, 50)),
    p99: round(percentile(samples, 99)),
    max: round(samples.length === 0 ? Number.NaN : Math.max(...samples)),
    count: samples.length,
  }
}
