import {
  type CacheStats,
  connectRedis,
  connectRedisCluster,
  createTieredCache,
  ScriptNotLoadedError,
  type TieredCache,
  type TieredCacheOptions,
} from '@strata/cache-core'
import type { Cluster, Redis } from 'ioredis'
import { ClusterStats, clusterView, type ReplicaStats, replicaRow } from './cluster-stats.js'
import { type ConsistencySampler, createConsistencySampler } from './consistency/index.js'
import { DashboardFeed } from './dashboard-feed.js'
import { createDatabase, type Database } from './db/client.js'
import { RecordsRepository, type StoredRecord } from './db/records.js'
import type { Env } from './env.js'
import { createLogger, type Logger } from './logger.js'
import { Metrics } from './metrics.js'
import { RecentLag } from './recent-lag.js'
import { startTracing, type Tracing } from './tracing/tracing.js'
import { UnknownOutcomes } from './unknown-outcomes.js'

/** Everything the app needs, built once from the configuration and closed once at shutdown. */
export interface Deps {
  env: Env
  logger: Logger
  db: Database
  records: RecordsRepository
  cache: TieredCache<StoredRecord>
  /** Undefined in mode `none`, which runs without Redis; a cluster client with REDIS_CLUSTER_NODES. */
  redis: Redis | Cluster | undefined
  cluster: ClusterStats | undefined
  /** This replica's row of the cluster view, as of now (or of `stats`, a snapshot just taken). */
  ownRow(stats?: CacheStats): ReplicaStats
  /** The producer behind every `/dashboard/events` stream. */
  dashboard: DashboardFeed
  metrics: Metrics
  /** Undefined unless an OTLP endpoint is configured: then nothing is traced, nor wrapped. */
  tracing: Tracing | undefined
  /** Samples served reads and re-checks them against PostgreSQL: the consistency SLI. */
  consistency: ConsistencySampler
  /**
   * The longest a write may take from its invalidation to its commit (cache-core's
   * `maxWriteTime`): a Redis command's time limit plus a database round trip's. A write that
   * took longer announces itself again after its commit, before it is acknowledged.
   */
  maxWriteTime: number
  /** Keys of writes answered 504 OUTCOME_UNKNOWN, announced again once PostgreSQL answers. */
  unknownOutcomes: UnknownOutcomes
  /**
   * Why Redis refuses this replica (`WRONGPASS …`, `NOAUTH …`, `NOPERM …`), from the last
   * connection error or a PING; undefined when it does not (it may still be unreachable).
   */
  redisRefusal(): Promise<string | undefined>
  /** Flipped by the server on SIGTERM: readiness turns false while in-flight requests drain. */
  lifecycle: { draining: boolean; migrated: boolean }
  close(): Promise<void>
}

/**
 * FOR TESTS ONLY: settings no environment variable reaches. `server.ts` never passes them, so a
 * deployment cannot set them by accident; the test harness does, to break a replica on purpose.
 */
export interface TestOnlySettings {
  /**
   * cache-core options set over the ones derived from the environment: `{ busLease: 0,
   * heartbeatInterval: 0 }` keeps a replica whose subscriber link went silent serving L1, which
   * production never allows (a stale replica, for the consistency SLI's test).
   */
  cache?: Pick<TieredCacheOptions<StoredRecord>, 'busLease' | 'heartbeatInterval'>
}

/** Errors with which Redis refuses a client: wrong or missing credentials, or an ACL too narrow. */
const isRefusal = (error: unknown) =>
  error instanceof Error &&
  /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid (username-)?password/i.test(error.message)

/**
 * What an L1 entry costs this process, from its serialized size: the record itself, and the
 * rendered answer the L1 fast path keeps beside it (`http/fast-read.ts`), each about as long,
 * plus the fields and object overhead. So `L1_MAX_BYTES` bounds the heap L1 really holds.
 */
const weighL1Entry = (serializedBytes: number): number => 2 * serializedBytes + 512

/** Time limit of each command on the API's Redis connection, in milliseconds. */
const REDIS_COMMAND_TIMEOUT_MS = 1_000

/** The key prefix of everything Strata keeps in Redis. */
const PREFIX = 'strata'

/** Builds the dependencies. Connections open lazily; `cache.whenReady()` waits for Redis. */
export function createDeps(
  env: Env,
  logger: Logger = createLogger(env),
  testOnly: TestOnlySettings = {},
): Deps {
  const tracing = startTracing(env, logger)
  const pool = createDatabase(env.DATABASE_URL, {
    max: env.DB_POOL_MAX_SIZE,
    queryTimeoutMs: env.DB_QUERY_TIMEOUT * 1000,
  })
  const db = tracing ? tracing.database(pool) : pool
  const records = new RecordsRepository(db)
  // Fail fast while Redis is away (reads degrade to the database), no ready check (its INFO
  // is not allowed to Strata's ACL user), no command re-sent after a reconnect.
  const connection = { commandTimeout: REDIS_COMMAND_TIMEOUT_MS }
  const redis =
    env.CACHE_MODE === 'none'
      ? undefined
      : env.REDIS_CLUSTER_NODES
        ? connectRedisCluster(env.REDIS_CLUSTER_NODES, connection)
        : connectRedis(env.REDIS_URL, connection)
  let lastRedisError = 0
  // Not cleared on 'ready': without a ready check ioredis reports ready before AUTH is answered.
  let refusal: string | undefined
  // A cluster client reports its nodes' connection errors as 'node error'.
  const connectionError = (error: Error) => {
    refusal = isRefusal(error) ? error.message : undefined
    // Reconnect attempts repeat the same error; one line every 10 s is enough.
    if (Date.now() - lastRedisError < 10_000) return
    lastRedisError = Date.now()
    logger.warn({ err: error.message }, 'redis unavailable')
  }
  redis?.on('error', connectionError)
  redis?.on('node error', connectionError)
  // An invalidation (fence + publish) takes at most a Redis command's time (twice, should ioredis
  // retry it once); the COMMIT after it at most one database round trip's, or the write is
  // answered "outcome unknown". A load: at most three round trips (connect, log in, query) and
  // an L2 read. The fences must outlive both.
  const queryTimeout = env.DB_QUERY_TIMEOUT * 1000
  const maxWriteTime = 2 * REDIS_COMMAND_TIMEOUT_MS + queryTimeout
  const maxLoadTime = Math.max(10_000, 3 * queryTimeout + REDIS_COMMAND_TIMEOUT_MS)
  const cache = createTieredCache<StoredRecord>({
    mode: env.CACHE_MODE,
    redis,
    prefix: PREFIX,
    instanceId: env.REPLICA_ID,
    loader: tracing ? tracing.loader(records.load) : records.load,
    wrapL2: tracing?.store,
    traceparent: tracing?.traceparent,
    l1: {
      maxEntries: env.L1_CACHE_SIZE,
      ttl: env.L1_CACHE_TTL * 1000,
      maxBytes: env.L1_MAX_BYTES,
      maxEntryBytes: env.L1_MAX_ENTRY_BYTES,
      weigh: weighL1Entry,
    },
    l2: {
      ttl: env.L2_CACHE_TTL * 1000,
      maxEntryBytes: env.L2_MAX_ENTRY_BYTES,
      scripts: env.REDIS_SCRIPTS,
      fillLeaseWait: Math.round(env.L2_FILL_LEASE_WAIT * 1000),
    },
    negativeTtl: env.NEGATIVE_CACHE_TTL * 1000,
    busLease: Math.round(env.BUS_LEASE * 1000),
    maxWriteTime,
    maxLoadTime,
    fenceTtl: Math.max(300_000, 2 * (maxWriteTime + maxLoadTime)),
    ...testOnly.cache,
  })
  tracing?.traceEvictions(cache)
  cache.events.on('bus', ({ state }) => {
    if (state === 'up') logger.info('invalidation bus up: L1 serving (started empty)')
    else logger.warn('invalidation bus down: L1 bypassed until it resubscribes')
  })
  cache.events.on('redis', ({ state }) => {
    if (state === 'up') logger.info('redis answers again: L2 and writes back')
    else logger.warn('redis not answering: L2 skipped and writes refused until a PING gets through')
  })
  cache.events.on('data-loss', ({ quarantineMs }) => {
    logger.warn(
      { quarantine_ms: quarantineMs },
      'redis lost data (or a clear was missed): L1 emptied, loads not cached for the quarantine',
    )
  })
  // Every L2 call fails the same way until an admin loads the scripts: one line per 10 s, saying so.
  let scriptsLoggedAt = Number.NEGATIVE_INFINITY
  cache.events.on('degraded', ({ error }) => {
    if (!(error instanceof ScriptNotLoadedError) || Date.now() - scriptsLoggedAt < 10_000) return
    scriptsLoggedAt = Date.now()
    logger.error(
      { script: error.script, sha: error.sha },
      `L2 skipped and writes refused: ${error.message}`,
    )
  })
  // Anyone who can publish on the bus can send thousands of these a second: one line per 10 s,
  // with how many were dropped (the exact count is strata_bus_malformed_messages_total).
  let malformedLoggedAt = Number.NEGATIVE_INFINITY
  let malformedUnlogged = 0
  cache.events.on('malformed', ({ error }) => {
    malformedUnlogged++
    if (Date.now() - malformedLoggedAt < 10_000) return
    logger.warn({ error, dropped: malformedUnlogged }, 'dropped malformed bus message(s)')
    malformedLoggedAt = Date.now()
    malformedUnlogged = 0
  })
  const metrics = new Metrics(cache as TieredCache<unknown>, db, env.REPLICA_ID)
  const consistency = createConsistencySampler(env, pool, metrics.registry)
  const recentLag = new RecentLag()
  cache.events.on('invalidation-lag', ({ seconds }) => recentLag.observe(seconds))
  const ownRow = (stats = cache.stats()): ReplicaStats => ({
    ...replicaRow(env.REPLICA_ID, env.CACHE_MODE, stats, Date.now(), consistency),
    ...recentLag.fields(),
  })
  const cluster = redis ? new ClusterStats(redis, PREFIX, ownRow) : undefined
  const unknownOutcomes = new UnknownOutcomes(db, cache as TieredCache<unknown>, (key) =>
    logger.warn({ key }, 'too many writes of unknown outcome pending: one is not announced again'),
  )
  const dashboard = new DashboardFeed({
    maxClients: env.DASHBOARD_MAX_CLIENTS,
    view: () => clusterView(ownRow(), cluster?.recentRows),
    registry: metrics.registry,
  })
  return {
    env,
    logger,
    db,
    records,
    cache,
    redis,
    cluster,
    ownRow,
    dashboard,
    metrics,
    tracing,
    consistency,
    maxWriteTime,
    unknownOutcomes,
    async redisRefusal() {
      if (refusal || !redis) return refusal
      // Without a password Redis does not fail the connection, only each command.
      const error = await redis.ping().then(
        () => undefined,
        (failure: unknown) => failure,
      )
      return isRefusal(error) ? (error as Error).message : undefined
    },
    lifecycle: { draining: false, migrated: false },
    async close() {
      dashboard.close()
      cluster?.stop()
      unknownOutcomes.stop()
      await consistency.stop()
      await cache.close()
      await redis?.quit().catch(() => redis.disconnect())
      await db.close()
      // Last: the spans of the work above are exported too.
      await tracing?.shutdown()
    },
  }
}
