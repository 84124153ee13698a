import type { CacheLevel, TieredCache } from '@strata/cache-core'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Database } from './db/client.js'

/** Prometheus metrics of one replica. Cache figures are read from cache-core's counters at scrape time. */
export class Metrics {
  readonly registry = new Registry()
  readonly #duration: Histogram<'route' | 'method' | 'status'>
  readonly #reads: Counter<'level'>
  // Children are cached per label set: looking one up by labels hashes strings on every request.
  readonly #durationChildren = new Map<string, { observe(value: number): void }>()
  readonly #readChildren = new Map<string, { inc(): void }>()

  constructor(cache: TieredCache<unknown>, db: Database, replicaId: string) {
    this.registry.setDefaultLabels({ replica: replicaId })
    collectDefaultMetrics({ register: this.registry })
    this.#duration = new Histogram({
      name: 'strata_http_request_duration_seconds',
      help: 'HTTP request duration by route, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    })
    this.#reads = new Counter({
      name: 'strata_cache_reads_total',
      help: 'Reads answered, by the tier that answered (L1, L2 or DB)',
      labelNames: ['level'],
      registers: [this.registry],
    })
    const fromStats = (
      name: string,
      help: string,
      pick: (s: ReturnType<typeof cache.stats>) => number,
    ) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset()
          this.inc(pick(cache.stats()))
        },
      })
    fromStats(
      'strata_invalidations_sent_total',
      'Invalidations this replica published',
      (s) => s.invalidationsSent,
    )
    fromStats(
      'strata_invalidations_received_total',
      'Invalidations heard from other replicas',
      (s) => s.invalidationsReceived,
    )
    fromStats(
      'strata_stale_sets_rejected_total',
      'Loads or L2 reads refused for being older than a write',
      (s) => s.staleSetsRejected,
    )
    fromStats('strata_l1_promotions_total', 'L2 hits copied into L1', (s) => s.promotions)
    fromStats(
      'strata_redis_errors_total',
      'Redis operations that failed and were degraded around',
      (s) => s.redisErrors,
    )
    new Gauge({
      name: 'strata_bus_connected',
      help: '1 while the invalidation bus subscription is up',
      registers: [this.registry],
      collect() {
        this.set(cache.stats().busState === 'up' ? 1 : 0)
      },
    })
    new Gauge({
      name: 'strata_l1_entries',
      help: 'Entries in this replica L1',
      registers: [this.registry],
      collect() {
        this.set(cache.stats().l1Size)
      },
    })
    new Gauge({
      name: 'strata_db_pool_in_use',
      help: 'Database connections holding a query',
      registers: [this.registry],
      collect() {
        this.set(db.inUse())
      },
    })
  }

  /** Records one request's duration in seconds. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const id = `${route} ${method} ${status}`
    let child = this.#durationChildren.get(id)
    if (!child) {
      child = this.#duration.labels(route, method, String(status))
      this.#durationChildren.set(id, child)
    }
    child.observe(seconds)
  }

  /** Counts one read answered by `level`. */
  countRead(level: CacheLevel): void {
    let child = this.#readChildren.get(level)
    if (!child) {
      child = this.#reads.labels(level)
      this.#readChildren.set(level, child)
    }
    child.inc()
  }
}
