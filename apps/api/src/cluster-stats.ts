import { type CacheStats, percent } from '@strata/cache-core'
import type { Cluster, Redis } from 'ioredis'
import { consistencyNines } from './consistency/verdict.js'
import type { RecentLagFields } from './recent-lag.js'
import { sharedFor } from './shared-result.js'

/** The per-replica figures shared with the cluster, with the original design's field names. */
export interface ReplicaStats {
  replica_id: string
  cache_mode: string
  bus_state: string
  l1_size: number
  l1_max_size: number
  reads: number
  l1_hits: number
  l1_misses: number
  l2_hits: number
  l2_misses: number
  db_reads: number
  invalidations_sent: number
  invalidations_received: number
  promotions: number
  stale_sets_rejected: number
  /** Reads that waited for another replica's fill (its fill lease held), served it, or gave up. */
  fill_lease_waits: number
  fill_lease_fills: number
  fill_lease_timeouts: number
  /** Served reads re-checked against PostgreSQL (the consistency SLI), and those found stale. */
  consistency_checks: number
  consistency_stale: number
  /** The staleness bound this replica judges its checks by, in milliseconds. */
  consistency_bound_ms: number
  /** Epoch ms of the replica's last flush. */
  updated_at: number
  /** Recent invalidation lag (`recent-lag.ts`); absent from rows of replicas older than it. */
  invalidation_lag_p50_ms?: RecentLagFields['invalidation_lag_p50_ms']
  invalidation_lag_max_ms?: RecentLagFields['invalidation_lag_max_ms']
}

const COUNTERS = [
  'l1_size',
  'l1_max_size',
  'reads',
  'l1_hits',
  'l1_misses',
  'l2_hits',
  'l2_misses',
  'db_reads',
  'invalidations_sent',
  'invalidations_received',
  'promotions',
  'stale_sets_rejected',
  'fill_lease_waits',
  'fill_lease_fills',
  'fill_lease_timeouts',
  'consistency_checks',
  'consistency_stale',
] as const

/** A replica's consistency checks so far (its `ConsistencySampler`). */
export interface ConsistencyTotals {
  checks: number
  stale: number
  boundMs: number
}

/** Turns cache-core counters into the shared row. */
export function replicaRow(
  replicaId: string,
  mode: string,
  s: CacheStats,
  now: number,
  consistency: ConsistencyTotals,
): ReplicaStats {
  return {
    replica_id: replicaId,
    cache_mode: mode,
    bus_state: s.busState,
    l1_size: s.l1Size,
    l1_max_size: s.l1MaxSize,
    reads: s.reads,
    l1_hits: s.l1Hits,
    l1_misses: s.l1Misses,
    l2_hits: s.l2Hits,
    l2_misses: s.l2Misses,
    db_reads: s.dbReads,
    invalidations_sent: s.invalidationsSent,
    invalidations_received: s.invalidationsReceived,
    promotions: s.promotions,
    stale_sets_rejected: s.staleSetsRejected,
    fill_lease_waits: s.fillLeaseWaits,
    fill_lease_fills: s.fillLeaseFills,
    fill_lease_timeouts: s.fillLeaseTimeouts,
    consistency_checks: consistency.checks,
    consistency_stale: consistency.stale,
    consistency_bound_ms: consistency.boundMs,
    updated_at: now,
  }
}

/** Sums the rows of every live replica and derives the rates (percentages). */
export function clusterTotals(rows: ReplicaStats[]) {
  const sum = Object.fromEntries(
    COUNTERS.map((name) => [name, rows.reduce((t, r) => t + (r[name] ?? 0), 0)]),
  ) as Record<(typeof COUNTERS)[number], number>
  return {
    replicas: rows.length,
    ...sum,
    l1_hit_rate: percent(sum.l1_hits, sum.l1_hits + sum.l1_misses),
    l2_hit_rate: percent(sum.l2_hits, sum.l2_hits + sum.l2_misses),
    combined_hit_rate: percent(sum.l1_hits + sum.l2_hits, sum.reads),
    // The SLI over every replica's checks, each judged by its own bound: the widest is shown.
    consistency_nines: consistencyNines(sum.consistency_checks, sum.consistency_stale),
    consistency_bound_ms: Math.max(0, ...rows.map((r) => r.consistency_bound_ms ?? 0)),
  }
}

/** The cluster view of `/cache-stats` and `/dashboard`: a row per live replica, and totals. */
export interface ClusterView {
  replicas: ReplicaStats[]
  totals: ReturnType<typeof clusterTotals>
  error?: string
}

/**
 * This replica's row (always current) beside the other live replicas' (at most two seconds
 * old), sorted by replica id. Without `rows` (mode `none`) or while Redis fails, this replica only.
 */
export async function clusterView(
  own: ReplicaStats,
  rows: (() => Promise<ReplicaStats[]>) | undefined,
): Promise<ClusterView> {
  let replicas: ReplicaStats[] = [own]
  let error: string | undefined
  if (rows) {
    try {
      replicas = [own, ...(await rows()).filter((row) => row.replica_id !== own.replica_id)]
    } catch {
      error = 'Redis unavailable: the cluster view shows this replica only'
    }
  }
  replicas.sort((a, b) => a.replica_id.localeCompare(b.replica_id))
  return { replicas, totals: clusterTotals(replicas), ...(error ? { error } : {}) }
}

/**
 * Shares this replica's counters through Redis once a second, off the read path.
 * Each replica owns one hash with a short TTL, so a replica that dies drops out by itself;
 * a sorted set indexes the live ones (two single-key commands: fine on Redis Cluster).
 */
export class ClusterStats {
  readonly #redis: Redis | Cluster
  readonly #hashPrefix: string
  readonly #indexKey: string
  readonly #ttlMs: number
  #timer: NodeJS.Timeout | undefined
  /**
   * {@link rows}, reused for `intervalMs` after it answers: `/cache-stats` (which answers anyone)
   * and the dashboard's producer then cost one cluster read per interval between them, however
   * many requests arrive. The rows change only once per interval anyway.
   */
  readonly recentRows: () => Promise<ReplicaStats[]>

  constructor(
    redis: Redis | Cluster,
    prefix: string,
    readonly row: () => ReplicaStats,
    readonly intervalMs = 1_000,
  ) {
    this.#redis = redis
    this.#hashPrefix = `${prefix}:m:stats:`
    this.#indexKey = `${prefix}:m:replicas`
    this.#ttlMs = intervalMs * 5
    this.recentRows = sharedFor(intervalMs, () => this.rows())
  }

  start(): void {
    this.#timer = setInterval(() => {
      // A failed flush only delays the cluster view; the next tick tries again.
      this.flush().catch(() => {})
    }, this.intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  /** Writes this replica's row now. */
  async flush(): Promise<void> {
    const row = this.row()
    const key = this.#hashPrefix + row.replica_id
    await Promise.all([
      this.#redis.set(key, JSON.stringify(row), 'PX', this.#ttlMs),
      this.#redis.zadd(this.#indexKey, row.updated_at, row.replica_id),
    ])
  }

  /** Rows of every replica that flushed within the TTL. */
  async rows(now = Date.now()): Promise<ReplicaStats[]> {
    await this.#redis.zremrangebyscore(this.#indexKey, '-inf', now - this.#ttlMs)
    const ids = await this.#redis.zrange(this.#indexKey, 0, -1)
    if (ids.length === 0) return []
    const raws = await Promise.all(ids.map((id) => this.#redis.get(this.#hashPrefix + id)))
    return raws.flatMap((raw) => (raw ? [JSON.parse(raw) as ReplicaStats] : []))
  }
}
