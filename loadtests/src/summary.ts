import { formatDuration } from '@strata/stack/duration'
import { textTable as sharedTextTable } from '@strata/stack/text-table'
import { LATENCY_GROUPS, type LatencyGroup, type PhaseStats } from './stats.js'
import { evaluateThresholds, type Threshold, type ThresholdResult } from './thresholds.js'

/** Latency figures of one group of requests, in milliseconds. */
export interface LatencySummary {
  count: number
  mean_ms: number
  p50_ms: number
  p90_ms: number
  p95_ms: number
  p99_ms: number
  max_ms: number
}

/** The generator's result: what `summary.json` of `pnpm loadtest` holds. Rates are percentages. */
export interface LoadSummary {
  scenario: string
  target: string
  started_at: string
  vus: number
  warmup_s: number
  /** Length of the measured window (from the first request's start to the last one's end). */
  duration_s: number
  /** Requests completed in the measured window; the warm-up is left out of every figure. */
  requests: number
  rps: number
  reads: number
  writes: number
  /** Non-2xx responses (404 on a read only when the scenario does not expect it) and network failures. */
  errors: number
  error_rate: number
  errors_by_kind: Record<string, number>
  error_samples: string[]
  not_found: number
  /** Open loop: the offered rate (req/s) and the requests dropped because no connection was idle. */
  rate?: number
  dropped: number
  /** Reads answered by each tier, per `X-Cache-Level`. */
  levels: { L1: number; L2: number; DB: number }
  /** L1 hits / reads. */
  l1_hit_rate: number
  /** L2 hits / reads that missed L1 (as `/cache-stats` defines it). */
  l2_hit_rate: number
  /** (L1 + L2 hits) / reads. */
  combined_hit_rate: number
  /** Share of reads each tier answered (sums to 100 with `DB`). */
  served: { L1: number; L2: number; DB: number }
  latency: Record<LatencyGroup, LatencySummary>
  /**
   * What the slowest 1% is made of: of the requests slower than the overall p99, the share (%)
   * that were writes and reads answered by each tier. Says whether the tail is the writes, the
   * database reads or the cache hits.
   */
  p99_tail: { threshold_ms: number; requests: number; write: number } & Record<
    'L1' | 'L2' | 'DB',
    number
  >
  /** Hit rates for each group of keys the scenario labels (e.g. by popularity), when it does. */
  by_group?: Record<
    string,
    { reads: number; l1_hit_rate: number; combined_hit_rate: number; db_share: number }
  >
  /** Responses per `X-Replica-Id`. */
  replicas: Record<string, number>
  /** Requests completed in each second of the measured window. */
  rps_series: number[]
  /** What the prime sweep did before the warm-up, when the scenario primes. */
  prime?: { keys: number; seconds: number; errors: number }
  thresholds: ThresholdResult[]
  passed: boolean
  /** True when the run was interrupted before its end. */
  aborted: boolean
}

/** `value` rounded to `digits` decimals. */
export const round = (value: number, digits = 2) => {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
const pct = (part: number, whole: number) => (whole === 0 ? 0 : round((part / whole) * 100))

/** count, mean and percentiles of each latency group, in ms. */
function latencySummaries(stats: PhaseStats): Record<LatencyGroup, LatencySummary> {
  const ms = (us: number) => round(us / 1000, 3)
  return Object.fromEntries(
    LATENCY_GROUPS.map((group) => {
      const s = stats.latency[group].summary()
      return [
        group,
        {
          count: s.count,
          mean_ms: ms(s.mean),
          p50_ms: ms(s.p50),
          p90_ms: ms(s.p90),
          p95_ms: ms(s.p95),
          p99_ms: ms(s.p99),
          max_ms: ms(s.max),
        },
      ]
    }),
  ) as Record<LatencyGroup, LatencySummary>
}

/** Of the requests slower than the overall p99: the share of writes and of reads per tier. */
function p99Tail(stats: PhaseStats): LoadSummary['p99_tail'] {
  const p99 = stats.latency.all.percentile(99)
  const slow = stats.latency.all.countAbove(p99)
  const tailShare = (group: LatencyGroup) => pct(stats.latency[group].countAbove(p99), slow)
  return {
    threshold_ms: round(p99 / 1000, 3),
    requests: slow,
    write: tailShare('write'),
    L1: tailShare('L1'),
    L2: tailShare('L2'),
    DB: tailShare('DB'),
  }
}

/** Hit rates of each group of keys the scenario labelled, in the groups' natural order. */
function byGroup(stats: PhaseStats): NonNullable<LoadSummary['by_group']> {
  const answered = stats.levels.L1 + stats.levels.L2 + stats.levels.DB
  return Object.fromEntries(
    [...stats.groups]
      .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([group, c]) => {
        const reads = c.L1 + c.L2 + c.DB
        return [
          group,
          {
            reads,
            l1_hit_rate: pct(c.L1, reads),
            combined_hit_rate: pct(c.L1 + c.L2, reads),
            db_share: pct(c.DB, answered),
          },
        ]
      }),
  )
}

/** Builds the summary of the measured phase and checks the thresholds. */
export function summarize(input: {
  scenario: string
  target: string
  startedAt: Date
  vus: number
  warmupMs: number
  stats: PhaseStats
  series: number[]
  thresholds: readonly Threshold[]
  aborted: boolean
  prime?: { keys: number; seconds: number; errors: number }
  rate?: number
}): LoadSummary {
  const { stats } = input
  const windowMs = stats.requests === 0 ? 0 : stats.lastEnd - stats.firstStart
  const answered = stats.levels.L1 + stats.levels.L2 + stats.levels.DB
  const summary: LoadSummary = {
    scenario: input.scenario,
    target: input.target,
    started_at: input.startedAt.toISOString(),
    vus: input.vus,
    warmup_s: round(input.warmupMs / 1000, 1),
    duration_s: round(windowMs / 1000, 2),
    requests: stats.requests,
    rps: windowMs === 0 ? 0 : round(stats.requests / (windowMs / 1000), 0),
    reads: stats.reads,
    writes: stats.writes,
    errors: stats.errors,
    error_rate: pct(stats.errors, stats.requests),
    errors_by_kind: Object.fromEntries(stats.errorsByKind),
    error_samples: [...stats.errorSamples],
    not_found: stats.notFound,
    ...(input.rate !== undefined ? { rate: input.rate } : {}),
    dropped: stats.dropped,
    levels: { ...stats.levels },
    l1_hit_rate: pct(stats.levels.L1, answered),
    l2_hit_rate: pct(stats.levels.L2, answered - stats.levels.L1),
    combined_hit_rate: pct(stats.levels.L1 + stats.levels.L2, answered),
    served: {
      L1: pct(stats.levels.L1, answered),
      L2: pct(stats.levels.L2, answered),
      DB: pct(stats.levels.DB, answered),
    },
    latency: latencySummaries(stats),
    p99_tail: p99Tail(stats),
    ...(stats.groups.size > 0 ? { by_group: byGroup(stats) } : {}),
    replicas: Object.fromEntries([...stats.replicas].sort(([a], [b]) => a.localeCompare(b))),
    rps_series: input.series,
    ...(input.prime ? { prime: input.prime } : {}),
    thresholds: [],
    passed: true,
    aborted: input.aborted,
  }
  summary.thresholds = evaluateThresholds(summary, input.thresholds)
  summary.passed = !input.aborted && summary.thresholds.every((t) => t.ok)
  return summary
}

const num = (value: number) => value.toLocaleString('en-US')
/** A latency in ms with 3 significant digits at most (2 decimals under 10). */
export const ms = (value: number) =>
  value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)

/** Pads the cells of each column to one width; numbers (every column but the first) right-aligned. */
export const textTable = (rows: readonly (readonly string[])[], indent = '  '): string =>
  sharedTextTable(rows, { indent, gap: '   ', alignRight: (_, column) => column > 0 })

/** Latency of each kind of request that had any (all requests always). */
function latencyTable(s: LoadSummary): string {
  const rows: string[][] = [['latency (ms)', 'count', 'mean', 'p50', 'p90', 'p95', 'p99', 'max']]
  for (const group of LATENCY_GROUPS) {
    const l = s.latency[group]
    if (l.count === 0 && group !== 'all') continue
    rows.push([
      LATENCY_LABEL[group],
      num(l.count),
      ms(l.mean_ms),
      ms(l.p50_ms),
      ms(l.p90_ms),
      ms(l.p95_ms),
      ms(l.p99_ms),
      ms(l.max_ms),
    ])
  }
  return textTable(rows)
}

const LATENCY_LABEL: Record<LatencyGroup, string> = {
  all: 'all requests',
  read: 'reads',
  write: 'writes',
  L1: 'reads from L1',
  L2: 'reads from L2',
  DB: 'reads from DB',
}

/** Hit rates by group of keys. */
function groupTable(groups: NonNullable<LoadSummary['by_group']>): string {
  return textTable([
    ['keys', 'reads', 'L1 hit', 'combined hit', 'DB reads (% of all reads)'],
    ...Object.entries(groups).map(([group, g]) => [
      group,
      num(g.reads),
      `${g.l1_hit_rate.toFixed(1)}%`,
      `${g.combined_hit_rate.toFixed(1)}%`,
      `${g.db_share.toFixed(2)}%`,
    ]),
  ])
}

/** The readable summary printed at the end of a run (k6's end-of-test summary, for Strata). */
export function formatSummary(s: LoadSummary): string {
  const lines: string[] = []
  lines.push(
    `scenario ${s.scenario} → ${s.target}: ${s.rate !== undefined ? `${s.rate.toLocaleString('en-US')} req/s offered over ${s.vus} connections` : `${s.vus} VUs`}, ${formatDuration(s.duration_s * 1000)} measured after ${formatDuration(s.warmup_s * 1000)} of warm-up${s.aborted ? ' (INTERRUPTED)' : ''}`,
  )
  if (s.prime)
    lines.push(
      `primed ${num(s.prime.keys)} keys in ${s.prime.seconds.toFixed(1)} s (${s.prime.errors} errors) before the warm-up`,
    )
  lines.push('')
  lines.push(
    `  requests ${num(s.requests)} (${num(s.reads)} reads, ${num(s.writes)} writes)   ${num(s.rps)} req/s   errors ${num(s.errors)} (${s.error_rate}%)${s.rate !== undefined ? `   dropped ${num(s.dropped)}` : ''}`,
  )
  lines.push(
    `  hit rate  L1 ${s.l1_hit_rate.toFixed(1)}%   L2 ${s.l2_hit_rate.toFixed(1)}% of L1 misses   combined ${s.combined_hit_rate.toFixed(1)}%   (reads served: L1 ${s.served.L1.toFixed(1)}% · L2 ${s.served.L2.toFixed(1)}% · DB ${s.served.DB.toFixed(1)}%)`,
  )
  lines.push('')
  lines.push(latencyTable(s))
  const t = s.p99_tail
  if (t.requests > 0)
    lines.push(
      `  slowest 1% (over ${ms(t.threshold_ms)} ms, ${num(t.requests)} requests): writes ${t.write.toFixed(0)}% · reads from L1 ${t.L1.toFixed(0)}% · L2 ${t.L2.toFixed(0)}% · DB ${t.DB.toFixed(0)}%`,
    )
  const replicas = Object.entries(s.replicas)
  if (replicas.length > 0) {
    lines.push('')
    lines.push(
      `  replicas  ${replicas.map(([id, n]) => `${id} ${pct(n, s.requests).toFixed(1)}%`).join('   ')}`,
    )
  }
  if (s.by_group) {
    lines.push('')
    lines.push(groupTable(s.by_group))
  }
  if (s.errors > 0) {
    lines.push('')
    lines.push(
      `  errors by kind: ${Object.entries(s.errors_by_kind)
        .map(([k, n]) => `${k} ${num(n)}`)
        .join(', ')}`,
    )
    for (const sample of s.error_samples) lines.push(`    e.g. ${sample}`)
  }
  if (s.thresholds.length > 0) {
    lines.push('')
    lines.push('  thresholds')
    for (const t of s.thresholds) {
      lines.push(`    ${t.ok ? '✓' : '✗'} ${t.threshold}   (measured ${t.actual})`)
    }
  }
  lines.push('')
  lines.push(
    s.passed ? '  PASSED' : s.aborted ? '  INTERRUPTED' : '  FAILED: a threshold was violated',
  )
  return lines.join('\n')
}
