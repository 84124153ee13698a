import type { Options, Scenario } from 'k6/options'
import { RUN_DEFAULTS, SCENARIO_PARAMS, type ScenarioName } from '../../scenarios/params.ts'

/** What a run takes from the environment: `k6 run -e BASE_URL=http://… -e VUS=64 read-heavy.ts`. */
export interface K6Env {
  /** The cluster's front door (nginx). @default http://localhost:8005 */
  BASE_URL?: string
  /** Virtual users; with `RATE`, the pool of VUs that start the requests. */
  VUS?: string
  /** The warm-up, left out of every threshold and of the summary's figures, e.g. `5s`. */
  WARMUP?: string
  /** The measured window, e.g. `30s`, `2m`. */
  DURATION?: string
  /** Open loop: start this many requests per second whatever the answers' pace. */
  RATE?: string
  /** Seeds each VU's key stream as the generator's `--seed` does. @default 1 */
  SEED?: string
  /** Where `handleSummary` writes its JSON. @default k6-<scenario>-summary.json */
  SUMMARY?: string
}

/** The k6 scenario that holds the measured window; thresholds look at its requests only. */
export const MEASURED = '{scenario:measure}'

/** The custom metrics of the scripts: the share of reads each tier answered (`X-Cache-Level`). */
export const TIER_METRICS = {
  /** L1 hits / reads. */
  l1: 'strata_l1_hit',
  /** L2 hits / reads that missed L1 (as the generator and `/cache-stats` define it). */
  l2: 'strata_l2_hit',
  /** Reads the database answered / reads. */
  db: 'strata_db_read',
  /** (L1 + L2 hits) / reads. */
  combined: 'strata_combined_hit',
} as const

const percent = (value: number) => value / 100

/**
 * The generator's threshold figures that k6 can test, as `[k6 metric, aggregation, scale]`:
 * rates in the generator are percentages, k6's `Rate`s fractions.
 */
const K6_EQUIVALENTS: Record<string, [string, string, (value: number) => number]> = {
  error_rate: ['http_req_failed', 'rate', percent],
  l1_hit_rate: [TIER_METRICS.l1, 'rate', percent],
  l2_hit_rate: [TIER_METRICS.l2, 'rate', percent],
  combined_hit_rate: [TIER_METRICS.combined, 'rate', percent],
  p50_ms: ['http_req_duration', 'med', Number],
  p95_ms: ['http_req_duration', 'p(95)', Number],
  p99_ms: ['http_req_duration', 'p(99)', Number],
  max_ms: ['http_req_duration', 'max', Number],
}

/**
 * Translates one generator threshold (`combined_hit_rate>90`, `errors==0`, `p99_ms<100`) into a
 * k6 threshold on the measured window: `[metric{scenario:measure}, 'rate>0.9']`.
 * @throws RangeError for a figure k6 has no equivalent of (`rps`, `dropped`, …)
 */
export function k6Threshold(text: string): [string, string] {
  const match = /^\s*([a-z0-9_]+)\s*(<=|>=|==|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text)
  const [, metric = '', op = '', value = ''] = match ?? []
  // k6 counts failed requests as a rate, not a number: "no error" is a rate of 0.
  if (metric === 'errors' && op === '==' && Number(value) === 0)
    return [`http_req_failed${MEASURED}`, 'rate==0']
  const equivalent = K6_EQUIVALENTS[metric]
  if (!match || !equivalent) throw new RangeError(`no k6 equivalent for threshold ${text}`)
  const [k6Metric, aggregation, scale] = equivalent
  return [`${k6Metric}${MEASURED}`, `${aggregation}${op}${scale(Number(value))}`]
}

/**
 * Thresholds that always hold, on every figure `handleSummary` reports: k6 keeps a tagged
 * sub-metric (here the measured window's) in its summary only when a threshold names it.
 */
const REPORTED: [string, string][] = [
  ...Object.values(TIER_METRICS).map((metric): [string, string] => [metric, 'rate>=0']),
  ['http_req_failed', 'rate>=0'],
  ['http_req_duration', 'max>=0'],
  ['http_reqs', 'count>=0'],
]

/** The k6 options of a scenario: its run shape and its thresholds, from `scenarios/params.ts`. */
export function k6Options(name: ScenarioName, env: K6Env): Options {
  const vus = Number(env.VUS ?? RUN_DEFAULTS.vus)
  const warmup = env.WARMUP ?? `${RUN_DEFAULTS.warmupSeconds}s`
  const duration = env.DURATION ?? `${RUN_DEFAULTS.durationSeconds}s`
  const rate = env.RATE === undefined ? undefined : Number(env.RATE)
  // As the generator: a closed loop of VUs, or with RATE an open loop fed from a pool of VUs.
  const phase = (startTime: string, length: string): Scenario =>
    rate === undefined
      ? { executor: 'constant-vus', vus, duration: length, startTime }
      : {
          executor: 'constant-arrival-rate',
          rate,
          timeUnit: '1s',
          duration: length,
          preAllocatedVUs: vus,
          startTime,
        }
  const thresholds: Record<string, string[]> = {}
  for (const [metric, condition] of [
    ...SCENARIO_PARAMS[name].thresholds.map(k6Threshold),
    ...REPORTED.map(([metric, condition]) => [`${metric}${MEASURED}`, condition]),
  ])
    if (metric !== undefined && condition !== undefined)
      thresholds[metric] = [...(thresholds[metric] ?? []), condition]
  return {
    scenarios: { warmup: phase('0s', warmup), measure: phase(warmup, duration) },
    thresholds,
    summaryTrendStats: ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  }
}
