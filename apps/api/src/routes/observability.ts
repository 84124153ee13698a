import { createRoute, type OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env.js'
import { clusterView } from '../cluster-stats.js'
import type { Deps } from '../deps.js'
import { createRouter } from '../http/router.js'
import { CacheStatsResponse, HealthResponse, json, ProbeResponse } from '../http/schemas.js'
import { sharedFor } from '../shared-result.js'

/**
 * How long the database check of `/health` is reused: it answers anyone, and would otherwise
 * cost a query per request (the cluster view of `/cache-stats` is reused the same way, by
 * `ClusterStats.recentRows`).
 */
const OBSERVED_FOR_MS = 1_000

const statsRoute = createRoute({
  method: 'get',
  path: '/cache-stats',
  summary: "This replica's cache counters, and the cluster's",
  description:
    'Counters use the original design field names; rates are percentages. `cluster` has a row ' +
    'per live replica (each flushes its counters to Redis every second) and their totals.',
  responses: { 200: json(CacheStatsResponse, 'Counters') },
})

const healthRoute = createRoute({
  method: 'get',
  path: '/health',
  summary: 'State of the database, L1, L2 and the bus',
  description:
    "`degraded` when Redis or the bus is down, or Redis lacks Strata's Lua scripts (reads then come from the database); 503 when the database is down. " +
    "The top-level `database`, `l1_cache` and `l2_cache` are the original design's fields, derived from `checks`.",
  responses: {
    200: json(HealthResponse, 'Healthy or degraded'),
    503: json(HealthResponse, 'Database down'),
  },
})

const liveRoute = createRoute({
  method: 'get',
  path: '/health/live',
  summary: 'Liveness: the process answers',
  responses: { 200: json(ProbeResponse, 'Alive') },
})

const readyRoute = createRoute({
  method: 'get',
  path: '/health/ready',
  summary: 'Readiness: migrated and not draining',
  responses: {
    200: json(ProbeResponse, 'Ready'),
    503: json(ProbeResponse, 'Starting or draining'),
  },
})

/** The original design's top-level `l1_cache` and `l2_cache` words for the states of `checks`. */
const ORIGINAL_L1_STATE = { serving: 'active', bypassed: 'bypassed', off: 'disabled' } as const
const ORIGINAL_L2_STATE = {
  up: 'connected',
  down: 'disconnected',
  'scripts-missing': 'scripts-missing',
  off: 'disabled',
} as const

const withTimeout = <T>(work: Promise<T>, ms: number): Promise<T> =>
  Promise.race([
    work,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref()),
  ])

/** `/cache-stats`, `/health`, `/health/live`, `/health/ready`, `/metrics`. */
export function observabilityRoutes(deps: Deps): OpenAPIHono<AppEnv> {
  const app = createRouter()
  const { cache, env, cluster, records, lifecycle } = deps
  const checkDatabase = sharedFor(OBSERVED_FOR_MS, async () => {
    const started = performance.now()
    return withTimeout(records.ping(), 2_000).then(
      () => ({
        status: 'up' as const,
        latency_ms: Math.round((performance.now() - started) * 100) / 100,
      }),
      () => ({ status: 'down' as const }),
    )
  })

  app.openapi(statsRoute, async (c) => {
    const s = cache.stats()
    // One snapshot for both: this replica's fields and its row of the cluster view agree.
    const own = deps.ownRow(s)
    const view = await clusterView(own, cluster?.recentRows)
    return c.json(
      {
        replica_id: env.REPLICA_ID,
        cache_mode: env.CACHE_MODE,
        l1_size: s.l1Size,
        l1_max_size: s.l1MaxSize,
        l1_hits: s.l1Hits,
        l1_misses: s.l1Misses,
        l1_hit_rate: s.l1HitRate,
        l2_hits: s.l2Hits,
        l2_misses: s.l2Misses,
        l2_hit_rate: s.l2HitRate,
        combined_hit_rate: s.combinedHitRate,
        db_reads: s.dbReads,
        reads: s.reads,
        invalidations_sent: s.invalidationsSent,
        invalidations_received: s.invalidationsReceived,
        promotions: s.promotions,
        stale_sets_rejected: s.staleSetsRejected,
        fill_lease_waits: s.fillLeaseWaits,
        fill_lease_fills: s.fillLeaseFills,
        fill_lease_timeouts: s.fillLeaseTimeouts,
        write_fills: s.writeFills,
        consistency_checks: own.consistency_checks,
        consistency_stale: own.consistency_stale,
        bus_state: s.busState,
        redis_errors: s.redisErrors,
        generation: s.generation,
        cluster: view,
      },
      200,
    )
  })

  app.openapi(healthRoute, async (c) => {
    const database = await checkDatabase()
    const tiers = cache.health()
    const redisDown = tiers.l2 === 'down' || tiers.l2 === 'scripts-missing' || tiers.bus === 'down'
    const healthy = database.status === 'up' && !redisDown && !lifecycle.draining
    return c.json(
      {
        status: healthy ? ('healthy' as const) : ('degraded' as const),
        database: database.status === 'up' ? ('connected' as const) : ('disconnected' as const),
        l1_cache: ORIGINAL_L1_STATE[tiers.l1],
        l2_cache: ORIGINAL_L2_STATE[tiers.l2],
        replica_id: env.REPLICA_ID,
        cache_mode: env.CACHE_MODE,
        draining: lifecycle.draining,
        checks: { database, l1: tiers.l1, l2: tiers.l2, bus: tiers.bus },
      },
      database.status === 'up' ? 200 : 503,
    )
  })

  app.openapi(liveRoute, (c) => c.json({ status: 'alive' }, 200))

  app.openapi(readyRoute, (c) => {
    if (lifecycle.draining) return c.json({ status: 'draining' }, 503)
    if (!lifecycle.migrated) return c.json({ status: 'starting' }, 503)
    return c.json({ status: 'ready' }, 200)
  })

  app.get('/metrics', async (c) => {
    const body = await deps.metrics.registry.metrics()
    return c.body(body, 200, { 'Content-Type': deps.metrics.registry.contentType })
  })
  return app
}
