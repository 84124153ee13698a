import { createApiServer } from './app.js'
import { migrate } from './db/migrate.js'
import { createDeps } from './deps.js'
import { loadEnv } from './env.js'
import { redactUrl } from './redact.js'

const env = loadEnv()
const deps = createDeps(env)
const { logger } = deps

await migrate(deps.db.sql).catch((error: unknown) => {
  logger.fatal(
    { err: error },
    `cannot reach or migrate the database at ${redactUrl(env.DATABASE_URL)}; check DATABASE_URL`,
  )
  process.exit(1)
})
deps.lifecycle.migrated = true
deps.cluster?.start()
if (env.CACHE_MODE !== 'none' && !(await deps.cache.whenReady(5_000))) {
  // Wrong credentials are a configuration error, not an outage: waiting would not fix them.
  const refusal = await deps.redisRefusal()
  if (refusal) {
    logger.fatal(
      env.REDIS_CLUSTER_NODES
        ? `the Redis Cluster at ${env.REDIS_CLUSTER_NODES.map(redactUrl).join(', ')} refused this replica (${refusal}); check the user name and password in REDIS_CLUSTER_NODES, and that user's ACL rules on every node`
        : `Redis at ${redactUrl(env.REDIS_URL)} refused this replica (${refusal}); check the user name and password in REDIS_URL, and that user's ACL rules`,
    )
    process.exit(1)
  }
  // Not fatal: reads are served from PostgreSQL until Redis is back (or its scripts are loaded).
  if (deps.cache.health().l2 === 'scripts-missing')
    logger.warn(
      "Redis answers but does not hold Strata's Lua scripts; serving from the database and refusing writes until an admin loads them (deploy/redis/load-scripts.sh)",
    )
  else logger.warn('Redis is not reachable yet; serving from the database meanwhile')
}

const { server } = createApiServer(deps)
server.listen(env.PORT, env.HOST, () => {
  logger.info({ port: env.PORT, mode: env.CACHE_MODE }, `replica ${env.REPLICA_ID} listening`)
})

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  // Readiness fails first, so load balancers stop sending; then in-flight requests finish.
  deps.lifecycle.draining = true
  // Dashboard streams never finish by themselves: ended now, or the listener would wait for them.
  deps.dashboard.close()
  logger.info({ signal }, 'draining')
  const force = setTimeout(() => {
    logger.error('drain timed out; exiting')
    process.exit(1)
  }, env.SHUTDOWN_TIMEOUT * 1000)
  force.unref()
  if (env.DRAIN_DELAY > 0)
    await new Promise((resolve) => setTimeout(resolve, env.DRAIN_DELAY * 1000))
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
  })
  await deps.close()
  logger.info('stopped')
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
