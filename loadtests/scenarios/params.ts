/**
 * The parameters of every scenario, in one place for both load tools: Strata's generator
 * (`scenarios/*.ts`) and the k6 scripts (`k6/*.ts`) import this module. It is plain data with no
 * imports, so k6 loads it as it is (no Node, no bundler). Change a figure here and both tools move
 * together; `k6/k6.test.ts` fails if a k6 script stops following it.
 */

/** How a scenario draws key indexes 0..keys-1. */
export type KeyDistribution =
  /** P(rank r) ∝ 1 / (r + 1)^s: rank 0 is the hottest key. */
  | { kind: 'zipf'; s: number }
  /** Every key as likely: the index is `floor(random() * keys)`. */
  | { kind: 'uniform' }

/** One scenario's data set, key distribution, read/write mix and pass conditions. */
export interface ScenarioParams {
  /** Every key is `${prefix}${i}` for i in 0..keys-1; the prefix keeps scenarios apart. */
  prefix: string
  /** Number of keys (rows seeded before the run). */
  keys: number
  /** Bytes of each value, seeded and written. */
  valueBytes: number
  distribution: KeyDistribution
  /** Share of requests that write their key (drawn from the same distribution). */
  writeShare: number
  /**
   * One hot key (index 0) takes `share` of all requests, and `writeShare` of those rewrite it;
   * the rest read the other keys (indexes 1..keys-1) with `distribution`.
   */
  hotKey?: { share: number; writeShare: number }
  /** Read every key once before the warm-up, so L2 holds the working set. */
  prime: boolean
  /**
   * Pass conditions, `METRIC OP NUMBER` (the generator's syntax, `src/thresholds.ts`); the k6
   * scripts translate them into k6 thresholds (`k6/options.ts`).
   */
  thresholds: readonly string[]
}

/** The run's shape when no option says otherwise. */
export const RUN_DEFAULTS = {
  /** Virtual users: each keeps one request in flight on its own keep-alive connection. */
  vus: 32,
  /** Traffic before the measured window, left out of every figure. */
  warmupSeconds: 5,
  /** The measured window. */
  durationSeconds: 30,
  /** A request without a complete response after this long fails. */
  requestTimeoutSeconds: 10,
} as const

/** Zipf exponent of the Zipf scenarios: rank 1 gets 13.5% of the traffic, the top 1,000 keys 75%. */
const ZIPF = { kind: 'zipf', s: 1.1 } as const

export const SCENARIO_PARAMS = {
  /** The headline workload: Zipf over 100k keys, 95% reads and 5% writes of the same keys. */
  'read-heavy': {
    prefix: 'rh:',
    keys: 100_000,
    valueBytes: 100,
    distribution: ZIPF,
    writeShare: 0.05,
    prime: true,
    thresholds: ['errors==0', 'combined_hit_rate>90', 'p99_ms<100'],
  },
  /** An invalidation storm: one key takes half of the traffic and a tenth of that rewrites it. */
  'hot-key': {
    prefix: 'hk:',
    keys: 100_000,
    valueBytes: 100,
    distribution: ZIPF,
    writeShare: 0,
    hotKey: { share: 0.5, writeShare: 0.1 },
    prime: true,
    thresholds: ['errors==0', 'combined_hit_rate>70'],
  },
  /** Where caching helps least: uniform reads over 1M keys, not primed. */
  cold: {
    prefix: 'cold:',
    keys: 1_000_000,
    valueBytes: 100,
    distribution: { kind: 'uniform' },
    writeShare: 0,
    prime: false,
    thresholds: ['errors==0'],
  },
  /** Half reads, half writes, over the Zipf distribution. */
  'write-heavy': {
    prefix: 'wh:',
    keys: 100_000,
    valueBytes: 100,
    distribution: ZIPF,
    writeShare: 0.5,
    prime: true,
    thresholds: ['errors==0'],
  },
} as const satisfies Record<string, ScenarioParams>

export type ScenarioName = keyof typeof SCENARIO_PARAMS
