import type { CacheLevel } from '@strata/cache-core'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { Verdict } from './verdict.js'

/** Staleness found by a check: 0 for most, up to seconds for a replica left behind. */
const STALENESS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** The consistency SLI's Prometheus metrics, fed by a {@link ConsistencySampler}'s hooks. */
export interface ConsistencyMetrics {
  onVerdict(verdict: Verdict, level: CacheLevel): void
  onDropped(reason: 'queue-full' | 'check-failed'): void
}

/** Registers the SLI's metrics on `registry`; every series exists from the start. */
export function consistencyMetrics(registry: Registry): ConsistencyMetrics {
  const registers = [registry]
  const checks = new Counter({
    name: 'strata_consistency_checks_total',
    help: 'Sampled reads re-checked against PostgreSQL, by verdict (stale: older than the bound) and the tier that served them',
    labelNames: ['result', 'level'],
    registers,
  })
  const staleness = new Histogram({
    name: 'strata_consistency_staleness_seconds',
    help: 'Staleness of sampled reads whose key PostgreSQL held at a newer version (0 when the read began before that write)',
    buckets: STALENESS_BUCKETS,
    registers,
  })
  const dropped = new Counter({
    name: 'strata_consistency_samples_dropped_total',
    help: 'Sampled reads never checked: the check queue was full, or the check query failed',
    labelNames: ['reason'],
    registers,
  })
  for (const result of ['consistent', 'stale']) {
    for (const level of ['L1', 'L2', 'DB']) checks.labels(result, level).inc(0)
  }
  for (const reason of ['queue-full', 'check-failed']) dropped.labels(reason).inc(0)
  return {
    onVerdict(verdict, level) {
      checks.labels(verdict.result, level).inc()
      if (verdict.stalenessMs !== undefined) staleness.observe(verdict.stalenessMs / 1000)
    },
    onDropped(reason) {
      dropped.labels(reason).inc()
    },
  }
}
