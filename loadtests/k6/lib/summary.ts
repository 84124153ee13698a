import { RUN_DEFAULTS, SCENARIO_PARAMS, type ScenarioName } from '../../scenarios/params.ts'
import { type K6Env, MEASURED, TIER_METRICS } from './options.ts'

/** The part of k6's end-of-test data that `handleSummary` reads. */
export interface K6SummaryData {
  metrics: Record<
    string,
    { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }
  >
  state: { testRunDurationMs: number }
}

const round = (value: number | undefined, digits: number) =>
  value === undefined ? null : Math.round(value * 10 ** digits) / 10 ** digits

/**
 * The JSON a k6 run leaves: the measured window's figures named as in the generator's
 * `summary.json` (rates in percent, times in milliseconds), every threshold and whether it held,
 * and k6's own data in full under `k6`.
 */
export function summaryOf(name: ScenarioName, env: K6Env, data: K6SummaryData) {
  const measured = (metric: string) => data.metrics[`${metric}${MEASURED}`]?.values ?? {}
  const rate = (metric: string) => round((measured(metric).rate ?? 0) * 100, 2)
  const latency = measured('http_req_duration')
  const requests = measured('http_reqs')
  const thresholds = Object.entries(data.metrics).flatMap(([metric, { thresholds: held }]) =>
    Object.entries(held ?? {}).map(([threshold, { ok }]) => ({ metric, threshold, ok })),
  )
  return {
    tool: 'k6',
    scenario: name,
    params: SCENARIO_PARAMS[name],
    target: env.BASE_URL ?? 'http://localhost:8005',
    vus: Number(env.VUS ?? RUN_DEFAULTS.vus),
    rate: env.RATE === undefined ? undefined : Number(env.RATE),
    requests: requests.count ?? 0,
    rps: round(requests.rate, 1),
    error_rate: rate('http_req_failed'),
    l1_hit_rate: rate(TIER_METRICS.l1),
    l2_hit_rate: rate(TIER_METRICS.l2),
    db_read_rate: rate(TIER_METRICS.db),
    combined_hit_rate: rate(TIER_METRICS.combined),
    latency_ms: {
      p50: round(latency.med, 3),
      p95: round(latency['p(95)'], 3),
      p99: round(latency['p(99)'], 3),
      max: round(latency.max, 3),
    },
    thresholds,
    passed: thresholds.every((t) => t.ok),
    k6: data,
  }
}
