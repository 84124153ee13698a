import { httpRequest } from '@strata/stack/http'

/**
 * Invalidation propagation as the replicas measure it: `strata_invalidation_lag_seconds`, from
 * the writer's clock at publish to the eviction on the replica that heard it, one observation per
 * replica and message (docs/benchmarks.md, *Invalidation propagation*; processes on one host share
 * the wall clock). A load test reads the histogram before and after its window and takes the
 * quantiles of the difference, as Prometheus' `histogram_quantile` does.
 */
const METRIC = 'strata_invalidation_lag_seconds_bucket'

/** Cumulative counts by upper bound, seconds (`+Inf` as Infinity), summed over replicas. */
export type LagHistogram = Map<number, number>

/** The `type="invalidate"` buckets of one `/metrics` page. */
export function parseLagBuckets(text: string): LagHistogram {
  const buckets: LagHistogram = new Map()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${METRIC}{`) || !line.includes('type="invalidate"')) continue
    const le = line.match(/le="([^"]+)"/)?.[1]
    const count = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (le === undefined || !Number.isFinite(count)) continue
    buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count)
  }
  return buckets
}

/** Every replica's lag histogram, summed. */
export async function lagHistogram(replicaUrls: readonly string[]): Promise<LagHistogram> {
  const pages = await Promise.all(
    replicaUrls.map(async (url) => {
      const answer = await httpRequest(`${url}/metrics`, { timeoutMs: 5_000 })
      if (answer.status !== 200) throw new Error(`${url}/metrics answered ${answer.status}`)
      return parseLagBuckets(answer.body)
    }),
  )
  const sum: LagHistogram = new Map()
  for (const page of pages) for (const [le, n] of page) sum.set(le, (sum.get(le) ?? 0) + n)
  return sum
}

/** What was observed between two readings. */
export const histogramDelta = (before: LagHistogram, after: LagHistogram): LagHistogram =>
  new Map([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]))

/**
 * The q-quantile of a cumulative histogram, in its unit, interpolated linearly inside the bucket
 * it falls in (the first bucket starts at 0); the highest finite bound when it falls beyond.
 * Undefined when nothing was observed.
 */
export function histogramQuantile(q: number, histogram: LagHistogram): number | undefined {
  const bounds = [...histogram.keys()].sort((a, b) => a - b)
  const total = histogram.get(Number.POSITIVE_INFINITY) ?? 0
  if (total <= 0) return undefined
  const rank = q * total
  let lower = 0
  let below = 0
  for (const le of bounds) {
    const count = histogram.get(le) ?? 0
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return lower
      return lower + ((le - lower) * (rank - below)) / Math.max(1, count - below)
    }
    lower = le
    below = count
  }
  return lower
}

/** Propagation over a window: messages heard (per replica) and p50/p99, ms. */
export interface Propagation {
  observed: number
  p50_ms: number
  p99_ms: number
}

/** The figures of a window's histogram; null when no invalidation was heard. */
export function propagationOf(delta: LagHistogram): Propagation | null {
  const p50 = histogramQuantile(0.5, delta)
  const p99 = histogramQuantile(0.99, delta)
  if (p50 === undefined || p99 === undefined) return null
  const ms = (seconds: number) => Math.round(seconds * 1e6) / 1e3
  return {
    observed: delta.get(Number.POSITIVE_INFINITY) ?? 0,
    p50_ms: ms(p50),
    p99_ms: ms(p99),
  }
}
