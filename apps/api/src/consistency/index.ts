import type { Registry } from 'prom-client'
import type { Database } from '../db/client.js'
import { currentVersions } from '../db/current-versions.js'
import type { Env } from '../env.js'
import { consistencyMetrics } from './metrics.js'
import { ConsistencySampler } from './sampler.js'

export { ConsistencySampler } from './sampler.js'
export { consistencyNines } from './verdict.js'

/** The replica's consistency sampler, from its configuration, with its metrics on `registry`. */
export function createConsistencySampler(
  env: Env,
  db: Database,
  registry: Registry,
): ConsistencySampler {
  const metrics = consistencyMetrics(registry)
  return new ConsistencySampler({
    checksPerSecond: env.CONSISTENCY_CHECKS_PER_SECOND,
    sampleShare: env.CONSISTENCY_SAMPLE_SHARE,
    delayMs: env.CONSISTENCY_CHECK_DELAY * 1000,
    boundMs: env.CONSISTENCY_STALENESS_BOUND * 1000,
    readCurrent: (keys) => currentVersions(db, keys),
    onVerdict: metrics.onVerdict,
    onDropped: metrics.onDropped,
  })
}
