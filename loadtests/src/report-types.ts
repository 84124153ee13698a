import type { NodeLoad } from './redis-nodes.js'

/** One mode of a comparison: the figures `summary.json` holds for it. Rates are percentages. */
export interface ModeRow {
  /** `multi`, `l2`, `l1`, `none`, `multi-affinity`. */
  mode: string
  cache_mode: string
  lb: string
  /** The most it served: closed loop, `vus` users sending as fast as answers come back. */
  rps: number
  /** The load of the main run (open loop), at which every other figure is measured. */
  offered_rps: number
  /** Latency at the offered load, over every request. */
  p50_ms: number
  p95_ms: number
  p99_ms: number
  /** p99 of the closed-loop run (queueing included). */
  saturated_p99_ms: number
  /** Errors of both runs. */
  errors: number
  /** Requests the open loop could not send (every connection busy): the mode fell behind. */
  dropped: number
  l1_hit_rate: number
  l2_hit_rate: number
  combined_hit_rate: number
  /** Loader calls (database reads) per second, from the replicas' `db_reads` counters. */
  db_reads_per_s: number
  /** Round trips to Redis per request (reads and writes; see `redisRoundTrips`). */
  redis_cmds_per_req: number | null
  /** Read-path round trips (GET, and the Lua set after a load) per read. */
  redis_cmds_per_read: number | null
  read_p99_ms: number
  write_p50_ms: number
  write_p99_ms: number
  /** Of the requests slower than the overall p99: the share (%) of writes and of reads per tier. */
  p99_tail: { write: number; L1: number; L2: number; DB: number }
  requests: number
  reads: number
  writes: number
  duration_s: number
  served: { L1: number; L2: number; DB: number }
  /**
   * CPU per request at the offered load, µs, from /proc: the replicas, Redis, PostgreSQL (with
   * its backends) and nginx (with its workers). What each mode costs, whatever the latency noise.
   */
  cpu_us_per_req: { replica: number; redis: number; postgres: number; nginx: number }
  /** `single` or `cluster` (a Redis Cluster of 3 masters); absent in older runs: single. */
  redis?: string
  /** The `--baseline` contender: the commit it ran (absent for this revision's modes). */
  revision?: string
  /** What each Redis node (the server, or each cluster master) ran; null without Redis. */
  redis_nodes?: NodeLoad[] | null
  /** The busiest Redis node's commands over the nodes' mean (1: balanced); null without Redis. */
  redis_imbalance?: number | null
  /**
   * Invalidation propagation, ms: publish (the writer's clock) → eviction on each replica that
   * heard it, from the replicas' strata_invalidation_lag_seconds; null when none was heard.
   */
  propagation_p50_ms?: number | null
  propagation_p99_ms?: number | null
  /**
   * hot-key only: the replicas' database loads in the measured window (their `db_reads`
   * counters) over the hot key's writes in it; null when nothing was written. With every key
   * primed into L2, the loads are the hot key's reloads after its writes: 1 is one load per
   * write cluster-wide, the number of replicas one per replica.
   */
  db_loads_per_write?: number | null
  /** hot-key only: the combined hit rate of the hot key's own reads (key #1), %. */
  hot_key_combined_hit_rate?: number | null
  /** With `--paths`: what one request of each path the mode serves costs (see `PathCost`). */
  paths?: PathCost[]
  /** With `--repeat`: each run's key figures (the row holds their medians). */
  rounds?: Array<{
    p99_ms: number
    /** Absent in older runs. */
    read_p99_ms?: number
    /** Older runs measured the maximum in every round; now it is measured once per mode. */
    rps?: number
    combined_hit_rate: number
    l1_hit_rate: number
  }>
}

/**
 * One path measured alone through nginx (wrk, every request the same kind): CPU per request of
 * each part of the stack, from /proc, and the throughput; `share` is the part of the replicas'
 * reads answered by the path's tier (100 for writes), which says the path was measured pure.
 */
export interface PathCost {
  path: string
  rps: number
  requests: number
  errors: number
  share: number
  cpu_us_per_req: { replica: number; nginx: number; redis: number; postgres: number }
}

/** Each mode's figures over the `--baseline` contender's: what changed since that revision. */
export interface BaselineRatios {
  contender: string
  revision: string
  /** By mode: its figure ÷ the baseline's (above 1: more req/s, or a longer p99, or more CPU). */
  ratios: Record<string, { rps: number; p99_ms: number; cpu_us_per_req_replica: number }>
}

/** A target of the design and whether the run met it. */
export interface TargetCheck {
  target: string
  measured: string
  met: boolean
}

/** What a comparison report is made of. */
export interface ComparisonReport {
  scenario: string
  description: string
  generatedAt: string
  command: string
  settings: {
    duration_s: number
    warmup_s: number
    vus: number
    /** Offered load of the main (open-loop) run, requests/s. */
    rate: number
    /** Connections of the open loop: max(vus, rate / 25). */
    connections: number
    /** Runs per mode; figures are medians when above 1. */
    repeat: number
    replicas: number
    primed: boolean
    access_log: boolean
    /**
     * Set when every mode had one stack for the whole run and rounds interleaved the modes (with
     * this L2 lifetime, seconds); absent in older runs, where each run had a fresh stack.
     */
    interleaved_l2_ttl_s?: number
  }
  machine: { node: string; cpus: number; cpu_model: string; platform: string }
  rows: ModeRow[]
  targets: TargetCheck[]
  /** `--baseline`: every mode's figures over the baseline revision's. */
  baseline?: BaselineRatios
  /** Hit rates of the ideal model (`simulate`), for reference. */
  ideal?: {
    round_robin: { l1: number; combined: number }
    key_affinity: { l1: number; combined: number }
  }
  /** Per-popularity-class hit rates of `multi`, measured and ideal. */
  groups?: Array<{
    group: string
    measured_l1: number
    measured_combined: number
    ideal_l1: number
    ideal_combined: number
  }>
}
