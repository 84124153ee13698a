/**
 * The Redis a propagation bench runs on: one redis-server, or with PROPAGATION_REDIS=cluster a
 * Redis Cluster of 3 masters + 3 replicas (the cluster mode: partitions over the masters,
 * sharded pub/sub), each started for the bench and stopped after it.
 */
import { startRedisCluster, startRedisServer } from '@strata/test-servers'
import type { Cluster } from 'ioredis'
import { connectRedisCluster } from '../src/index.js'

export const ON_CLUSTER = process.env.PROPAGATION_REDIS === 'cluster'

/** What the bench's title says it ran on. */
export const TARGET_LABEL = ON_CLUSTER
  ? 'a Redis Cluster (3 masters + 3 replicas)'
  : 'one Redis server'

/** Starts the bench's Redis; `seeds` are what each process connects with. */
export async function startTarget(): Promise<{ seeds: string[]; stop: () => Promise<void> }> {
  if (ON_CLUSTER) {
    const cluster = await startRedisCluster()
    return { seeds: cluster.seeds(), stop: () => cluster.stop() }
  }
  const server = await startRedisServer()
  return { seeds: [server.url], stop: () => server.stop() }
}

/**
 * A cache's `redis` option for `seeds`: the URL of the one server (the cache owns that
 * connection), or a cluster client that `close` disconnects after the cache is closed.
 */
export function redisOf(seeds: readonly string[]): { redis: string | Cluster; close: () => void } {
  if (seeds.length === 1) return { redis: seeds[0] as string, close: () => {} }
  const cluster = connectRedisCluster(seeds)
  return { redis: cluster, close: () => cluster.disconnect() }
}
