import type { LatencyGroup } from './stats.js'

/**
 * The figures of a run that thresholds test. A `LoadSummary` has them all; thresholds need no
 * more, so they depend on nothing that depends on them.
 */
export interface MeasuredRun {
  errors: number
  error_rate: number
  rps: number
  dropped: number
  l1_hit_rate: number
  l2_hit_rate: number
  combined_hit_rate: number
  latency: Record<LatencyGroup, { p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number }>
}

/** Figures of a run that a threshold can test. Rates are percentages, times milliseconds. */
export const THRESHOLD_METRICS = {
  errors: (s: MeasuredRun) => s.errors,
  error_rate: (s: MeasuredRun) => s.error_rate,
  rps: (s: MeasuredRun) => s.rps,
  dropped: (s: MeasuredRun) => s.dropped,
  l1_hit_rate: (s: MeasuredRun) => s.l1_hit_rate,
  l2_hit_rate: (s: MeasuredRun) => s.l2_hit_rate,
  combined_hit_rate: (s: MeasuredRun) => s.combined_hit_rate,
  p50_ms: (s: MeasuredRun) => s.latency.all.p50_ms,
  p95_ms: (s: MeasuredRun) => s.latency.all.p95_ms,
  p99_ms: (s: MeasuredRun) => s.latency.all.p99_ms,
  max_ms: (s: MeasuredRun) => s.latency.all.max_ms,
  read_p99_ms: (s: MeasuredRun) => s.latency.read.p99_ms,
  write_p99_ms: (s: MeasuredRun) => s.latency.write.p99_ms,
  l1_p99_ms: (s: MeasuredRun) => s.latency.L1.p99_ms,
} as const

export type ThresholdMetric = keyof typeof THRESHOLD_METRICS
export type ThresholdOperator = '<' | '<=' | '>' | '>=' | '=='

/** A pass condition on one figure of the summary, e.g. `combined_hit_rate > 90`. */
export interface Threshold {
  metric: ThresholdMetric
  op: ThresholdOperator
  value: number
}

/** A threshold with the measured figure and whether it held. */
export interface ThresholdResult {
  threshold: string
  actual: number
  ok: boolean
}

const OPERATORS: Record<ThresholdOperator, (a: number, b: number) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
}

/** `metric op value` as text. */
export const formatThreshold = (t: Threshold): string => `${t.metric} ${t.op} ${t.value}`

/**
 * Parses `combined_hit_rate>90`, `errors==0`, `p99_ms < 50` (spaces optional).
 * @throws RangeError naming the bad part and the known metrics
 */
export function parseThreshold(text: string): Threshold {
  const match = /^\s*([a-z0-9_]+)\s*(<=|>=|==|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text)
  if (!match) {
    throw new RangeError(
      `bad threshold ${JSON.stringify(text)}: expected METRIC OP NUMBER, e.g. combined_hit_rate>90`,
    )
  }
  const [, metric = '', op = '', value = ''] = match
  if (!(metric in THRESHOLD_METRICS)) {
    throw new RangeError(
      `bad threshold ${JSON.stringify(text)}: unknown metric ${metric}; known: ${Object.keys(THRESHOLD_METRICS).join(', ')}`,
    )
  }
  return { metric: metric as ThresholdMetric, op: op as ThresholdOperator, value: Number(value) }
}

/** Checks every threshold against a summary. */
export function evaluateThresholds(
  summary: MeasuredRun,
  thresholds: readonly Threshold[],
): ThresholdResult[] {
  return thresholds.map((t) => {
    const actual = THRESHOLD_METRICS[t.metric](summary)
    return { threshold: formatThreshold(t), actual, ok: OPERATORS[t.op](actual, t.value) }
  })
}
