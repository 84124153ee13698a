import type { CacheLevel, TieredCache } from '@strata/cache-core'
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type Metric,
  Registry,
} from 'prom-client'
import type { Database } from './db/client.js'

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
/** Invalidation lag: sub-millisecond on one host, up to seconds for a replica that falls behind. */
const LAG_BUCKETS = [0.0001, 0.00025, ...BUCKETS, 5, 10]

/** One label set of the request histogram: counts per bucket (not cumulative), sum, count. */
export class DurationSeries {
  readonly labels: { route: string; method: string; status: string }
  readonly counts = new Float64Array(BUCKETS.length + 1)
  sum = 0
  count = 0

  constructor(route: string, method: string, status: number) {
    this.labels = { route, method, status: String(status) }
  }

  /** Records one request of this label set, in seconds. */
  observe(seconds: number): void {
    let bucket = 0
    while (bucket < BUCKETS.length && seconds > (BUCKETS[bucket] as number)) bucket++
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1
    this.sum += seconds
    this.count++
  }
}

/**
 * The request-duration histogram, kept as plain numbers and rendered by prom-client at scrape
 * time. prom-client's own Histogram hashes the label set on every observation, which is a
 * measurable share of an L1 hit; here an observation is three Map lookups and two additions,
 * or none of the lookups for a caller that holds its {@link DurationSeries}.
 */
class RequestDurations {
  readonly name = 'strata_http_request_duration_seconds'
  readonly help = 'HTTP request duration by route, method and status'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #series = new Map<string, Map<string, Map<number, DurationSeries>>>()

  series(route: string, method: string, status: number): DurationSeries {
    let byMethod = this.#series.get(route)
    if (!byMethod) {
      byMethod = new Map()
      this.#series.set(route, byMethod)
    }
    let byStatus = byMethod.get(method)
    if (!byStatus) {
      byStatus = new Map()
      byMethod.set(method, byStatus)
    }
    let series = byStatus.get(status)
    if (!series) {
      series = new DurationSeries(route, method, status)
      byStatus.set(status, series)
    }
    return series
  }

  /** The metric in prom-client's exposition shape: cumulative buckets, then sum and count. */
  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] =
      []
    for (const byMethod of this.#series.values()) {
      for (const byStatus of byMethod.values()) {
        for (const series of byStatus.values()) {
          let cumulative = 0
          BUCKETS.forEach((le, i) => {
            cumulative += series.counts[i] ?? 0
            values.push({
              labels: { ...series.labels, le },
              value: cumulative,
              metricName: `${this.name}_bucket`,
            })
          })
          values.push({
            labels: { ...series.labels, le: '+Inf' },
            value: series.count,
            metricName: `${this.name}_bucket`,
          })
          values.push({ labels: series.labels, value: series.sum, metricName: `${this.name}_sum` })
          values.push({
            labels: series.labels,
            value: series.count,
            metricName: `${this.name}_count`,
          })
        }
      }
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    }
  }
}

type CacheStats = ReturnType<TieredCache<unknown>['stats']>
type CountKey = {
  [K in keyof CacheStats]: CacheStats[K] extends number ? K : never
}[keyof CacheStats]

/** Counters that mirror one of cache-core's running totals: name, help, the total they read. */
const STATS_COUNTERS: readonly [name: string, help: string, key: CountKey][] = [
  ['strata_invalidations_sent_total', 'Invalidations this replica published', 'invalidationsSent'],
  [
    'strata_invalidations_received_total',
    'Invalidations heard from other replicas',
    'invalidationsReceived',
  ],
  [
    'strata_stale_sets_rejected_total',
    'Loads or L2 reads refused for being older than a write',
    'staleSetsRejected',
  ],
  ['strata_l1_promotions_total', 'L2 hits copied into L1', 'promotions'],
  [
    'strata_db_loads_total',
    'Loads from PostgreSQL (reads that joined a load in flight count once)',
    'dbReads',
  ],
  [
    'strata_bus_malformed_messages_total',
    'Bus messages that did not parse and were dropped',
    'malformedMessages',
  ],
  [
    'strata_bus_lease_lapses_total',
    'Times no heartbeat came back within the bus lease (L1 paused until one did)',
    'leaseLapses',
  ],
  [
    'strata_redis_data_losses_total',
    'Times the L2 generation moved while unsubscribed: Redis lost data or a clear was missed',
    'dataLosses',
  ],
  [
    'strata_join_retries_total',
    'Reads that joined a load older than a write they knew of, and loaded again',
    'joinRetries',
  ],
  [
    'strata_discarded_loads_total',
    'Loads that installed nothing (detached by an invalidation or a bus loss, too old, quarantined)',
    'discardedLoads',
  ],
  ['strata_fences_restored_total', 'Fences of refused writes taken back', 'fencesRestored'],
  [
    'strata_fill_lease_waits_total',
    'Reads that found another replica loading their key (its fill lease held) and waited',
    'fillLeaseWaits',
  ],
  [
    'strata_fill_lease_fills_total',
    "Reads that waited on a fill lease and were served the holder's fill from L2",
    'fillLeaseFills',
  ],
  [
    'strata_fill_lease_timeouts_total',
    'Reads that waited on a fill lease, saw no fill within L2_FILL_LEASE_WAIT, and loaded',
    'fillLeaseTimeouts',
  ],
  [
    'strata_write_fills_total',
    "L2 sets this replica's writes sent to fill their committed rows",
    'writeFills',
  ],
  [
    'strata_redis_errors_total',
    'Redis operations that failed and were degraded around',
    'redisErrors',
  ],
]

/** A counter's `collect`: replaces its value with the running total `read` returns. */
function collectTotal(read: () => number) {
  return function (this: Counter) {
    this.reset()
    this.inc(read())
  }
}

/** A gauge's `collect`: sets it to what `read` returns. */
function collectLevel(read: () => number) {
  return function (this: Gauge) {
    this.set(read())
  }
}

/** Prometheus metrics of one replica. Cache figures are read from cache-core's counters at scrape time. */
export class Metrics {
  readonly registry = new Registry()
  readonly #durations = new RequestDurations()
  /** Reads answered per tier: plain counters, read by prom-client at scrape time. */
  readonly #reads: Record<CacheLevel, number> = { L1: 0, L2: 0, DB: 0 }

  constructor(cache: TieredCache<unknown>, db: Database, replicaId: string) {
    this.registry.setDefaultLabels({ replica: replicaId })
    collectDefaultMetrics({ register: this.registry })
    this.registry.registerMetric(this.#durations as unknown as Metric)
    const reads = this.#reads
    new Counter({
      name: 'strata_cache_reads_total',
      help: 'Reads answered, by the tier that answered (L1, L2 or DB)',
      labelNames: ['level'],
      registers: [this.registry],
      collect() {
        this.reset()
        for (const level of ['L1', 'L2', 'DB'] as const) this.labels(level).inc(reads[level])
      },
    })
    const stats = () => cache.stats()
    // Every scraped metric is read when Prometheus asks, never kept up to date by the hot path.
    const registers = [this.registry]
    for (const [name, help, key] of STATS_COUNTERS) {
      new Counter({ name, help, registers, collect: collectTotal(() => stats()[key]) })
    }
    const gauges: [name: string, help: string, read: () => number][] = [
      [
        'strata_bus_connected',
        '1 while the invalidation bus subscription is up',
        () => (stats().busState === 'up' ? 1 : 0),
      ],
      ['strata_l1_entries', 'Entries in this replica L1', () => stats().l1Size],
      [
        'strata_l1_bytes',
        'Weighed size of this replica L1 entries, in bytes',
        () => stats().l1Bytes,
      ],
      ['strata_db_pool_in_use', 'Database connections holding a query', () => db.inUse()],
    ]
    for (const [name, help, read] of gauges) {
      new Gauge({ name, help, registers, collect: collectLevel(read) })
    }
    const lag = new Histogram({
      name: 'strata_invalidation_lag_seconds',
      help: 'From a peer publishing an invalidation or clear (its clock) to the eviction here (ours); negatives as 0',
      labelNames: ['type'],
      buckets: LAG_BUCKETS,
      registers,
    })
    // Both series exist from the start, so rate() over them counts the first observation too.
    for (const type of ['invalidate', 'clear']) lag.zero({ type })
    // Observed on the bus receive path, once per message heard: never on a read.
    cache.events.on('invalidation-lag', ({ seconds, type }) => lag.labels(type).observe(seconds))
  }

  /** Records one request's duration in seconds. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.#durations.series(route, method, status).observe(seconds)
  }

  /** The histogram series of one label set, for a hot path that observes it without lookups. */
  durationSeries(route: string, method: string, status: number): DurationSeries {
    return this.#durations.series(route, method, status)
  }

  /** Counts one read answered by `level`. */
  countRead(level: CacheLevel): void {
    this.#reads[level]++
  }
}
