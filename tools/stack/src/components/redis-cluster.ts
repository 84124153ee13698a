import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { redactUrl } from '@strata/api/redact'
import { clusterNodeDirectives, createCluster, redisUrlFor } from '@strata/test-servers'
import {
  logFileOf,
  REDIS_CLUSTER_NODES,
  REDIS_CLUSTER_SHAPE,
  redisNodeName,
  redisPorts,
  type StackConfig,
  stackPaths,
} from '../config.js'
import { API_REDIS_USER } from '../credentials.js'
import { componentFailed, StackError } from '../errors.js'
import type { RunningComponent, StartContext } from './launch.js'
import { launchRedis, stackRedisUsers } from './redis.js'

/**
 * A failed node is failed over after this long without an answer: short, so that a killed master
 * is replaced within seconds (fault tests, chaos), as docs/operations.md says.
 */
const NODE_TIMEOUT_MS = 1_000

/**
 * Starts node `index` (1-based) of the stack's Redis Cluster on `redisPort + index - 1`, with the
 * stack's two users, and waits until it holds Strata's scripts. Its `nodes.conf` stays in its
 * directory, so a node started again after a kill rejoins the cluster as itself (a master that
 * was failed over comes back as a replica).
 */
export function startRedisNode(
  ctx: StartContext,
  index: number,
  logMode: 'truncate' | 'append' = 'truncate',
): Promise<RunningComponent> {
  const { config, credentials } = ctx
  const port = config.redisPort + index - 1
  const [admin, ...users] = stackRedisUsers(ctx)
  const settings = clusterNodeDirectives({
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    admin: admin && { user: admin.name, password: admin.password },
    users,
  })
  return launchRedis(ctx, {
    name: redisNodeName(index),
    port,
    url: redactUrl(redisUrlFor(port, API_REDIS_USER, credentials.redis.apiPassword)),
    dir: redisNodeDir(ctx, index),
    directives: settings,
    logMode,
  })
}

const redisNodeDir = (ctx: StartContext, index: number) =>
  join(stackPaths(ctx.config).redisDir, redisNodeName(index))

/**
 * Starts every node of a new Redis Cluster (3 masters, 3 replicas) and joins them with
 * `redis-cli --cluster create`; returns once every node agrees the cluster is whole. Each node
 * got Strata's scripts when it started, and keeps them across the sync from its master.
 */
export async function startRedisCluster(ctx: StartContext): Promise<RunningComponent[]> {
  const { config, credentials, reporter } = ctx
  const ports = redisPorts(config)
  // A cluster of an earlier run would come back from its nodes.conf files: this one is new.
  for (const [offset] of ports.entries())
    rmSync(join(redisNodeDir(ctx, offset + 1), 'nodes.conf'), { force: true })
  const started = await Promise.allSettled(
    ports.map((_, offset) => startRedisNode(ctx, offset + 1)),
  )
  const failure = started.find((result) => result.status === 'rejected')
  if (failure) throw failure.reason
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))

  const { masters, replicasPerMaster } = REDIS_CLUSTER_SHAPE
  reporter.step(`Joining redis-1..${ports.length} into a Redis Cluster (${masters} masters)`)
  const began = Date.now()
  try {
    await createCluster(
      ports,
      replicasPerMaster,
      { user: 'default', password: credentials.redis.adminPassword },
      config.startupTimeoutMs,
    )
  } catch (error) {
    const logs = ports.map((_, offset) => logFileOf(config, redisNodeName(offset + 1)))
    throw componentFailed('redis cluster', (error as Error).message, logs, error)
  }
  reporter.info(`Redis Cluster ok (${((Date.now() - began) / 1000).toFixed(1)} s)`)
  return nodes
}

/**
 * The component name of the stack's Redis (`redis`) or of node `node` of its cluster
 * (`redis-<node>`, 1-based); refuses a node of a single Redis and a missing or unknown one.
 */
export function redisComponentName(
  config: Pick<StackConfig, 'redisTopology' | 'redisUrl'>,
  node: number | undefined,
): string {
  if (config.redisTopology === 'single' || config.redisUrl) {
    if (node === undefined) return 'redis'
    throw new StackError('E_BAD_ARGUMENT', 'this stack runs one Redis, not a cluster of nodes')
  }
  if (node === undefined || !Number.isInteger(node) || node < 1 || node > REDIS_CLUSTER_NODES)
    throw new StackError(
      'E_BAD_ARGUMENT',
      `this stack runs a Redis Cluster: name its node, 1 to ${REDIS_CLUSTER_NODES} (got ${node})`,
    )
  return redisNodeName(node)
}

/**
 * REDIS_CLUSTER_NODES of the replicas: the cluster's first masters as the replicas' user. Any
 * node would do as a seed; the client reads the slot map from the first that answers.
 */
export function clusterSeeds(ctx: Pick<StartContext, 'config' | 'credentials'>): string {
  const { config, credentials } = ctx
  return redisPorts(config)
    .slice(0, REDIS_CLUSTER_SHAPE.masters)
    .map((port) => redisUrlFor(port, API_REDIS_USER, credentials.redis.apiPassword))
    .join(',')
}
