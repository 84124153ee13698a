import { median } from './median.js'
import { round } from './summary.js'

/** What one generator measured on the mix: throughput and hit rates (%, as the summary's). */
export interface MixFigures {
  rps: number
  l1_hit_rate: number
  /** L2 hits over L1 misses. */
  l2_hit_rate: number
  combined_hit_rate: number
  /** Share of requests that were writes, %. */
  write_share: number
}

/** The counts the wrk script prints in `done()` (`loadtests/wrk/read-heavy.lua`). */
export interface WrkMixCounts {
  requests: number
  l1: number
  l2: number
  db: number
  other: number
  /** Responses without X-Cache-Level: the writes. */
  no_level: number
  failed: number
}

const percent = (part: number, whole: number) => (whole === 0 ? 0 : round((part / whole) * 100, 2))

/**
 * wrk's figures, with hit rates defined as the generator's summary defines them: L1 = L1 hits /
 * reads, L2 = L2 hits / L1 misses, combined = (L1 + L2) / reads. Reads are the responses that
 * name a tier.
 */
export function wrkMixFigures(rps: number, counts: WrkMixCounts): MixFigures {
  const reads = counts.l1 + counts.l2 + counts.db + counts.other
  return {
    rps: round(rps, 1),
    l1_hit_rate: percent(counts.l1, reads),
    l2_hit_rate: percent(counts.l2, reads - counts.l1),
    combined_hit_rate: percent(counts.l1 + counts.l2, reads),
    write_share: percent(counts.no_level, reads + counts.no_level),
  }
}

/** The figures compared, with the most they may differ (relative to our generator's). */
export const CROSSCHECKED = ['rps', 'l1_hit_rate', 'l2_hit_rate', 'combined_hit_rate'] as const

export interface CrosscheckLine {
  figure: (typeof CROSSCHECKED)[number]
  ours: number
  wrk: number
  /** (wrk − ours) / ours, %. */
  difference_pct: number
  ok: boolean
}

/** Each figure of both generators and whether they agree within `tolerance` (0.1 = 10%). */
export function crosscheck(ours: MixFigures, wrk: MixFigures, tolerance = 0.1): CrosscheckLine[] {
  return CROSSCHECKED.map((figure) => {
    const a = ours[figure]
    const b = wrk[figure]
    const difference = a === 0 ? (b === 0 ? 0 : Number.POSITIVE_INFINITY) : (b - a) / a
    return {
      figure,
      ours: a,
      wrk: b,
      difference_pct: round(difference * 100, 1),
      ok: Math.abs(difference) <= tolerance,
    }
  })
}

/** The median of each figure over several rounds. */
export function medianFigures(rounds: readonly MixFigures[]): MixFigures {
  const of = (pick: (f: MixFigures) => number) => round(median(rounds.map(pick)), 2)
  return {
    rps: of((f) => f.rps),
    l1_hit_rate: of((f) => f.l1_hit_rate),
    l2_hit_rate: of((f) => f.l2_hit_rate),
    combined_hit_rate: of((f) => f.combined_hit_rate),
    write_share: of((f) => f.write_share),
  }
}
