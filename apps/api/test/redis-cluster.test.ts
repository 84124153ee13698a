import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { checkMixedConcurrency } from './coherency-checks.js'
import {
  ADMIN_TOKEN,
  eventually,
  read,
  startClusterOn,
  type TestReplica,
  write,
} from './harness.js'

// The API's replicas on a Redis Cluster (3 masters, 3 replicas; REDIS_CLUSTER_NODES): the same
// coherency checks as on one server, and what the cluster changes: keys on every master, a clear
// that reaches every shard, health and cluster stats through the cluster client.

const { servers, replicas } = await startClusterOn({ redisCluster: true }, {}, {}, {})
const [a, b, c] = replicas

describe('replicas on a Redis Cluster', () => {
  it('report the cluster healthy: L2 and the sharded bus up, L1 serving', async () => {
    for (const replica of replicas) {
      const health = await replica.request('/health')
      expect(health.status).toBe(200)
      expect(await health.json()).toMatchObject({
        status: 'healthy',
        l1_cache: 'active',
        l2_cache: 'connected',
      })
    }
  })

  it('gives versions that only go up, to every reader, under concurrent writes and reads', async () => {
    await checkMixedConcurrency(replicas)
  })

  it('spreads the keys over every master, and a clear empties every shard on every replica', async () => {
    const keys = Array.from({ length: 48 }, (_, i) => `spread-${i}`)
    for (const key of keys) await write(a as TestReplica, key, 'v1')
    for (const key of keys) {
      await read(b as TestReplica, key)
      expect((await read(b as TestReplica, key)).level).toBe('L1')
    }
    const masters = await servers.redisCluster?.masters()
    for (const master of masters ?? []) {
      const node = new Redis(servers.redisCluster?.adminUrl(master.port) as string)
      const held = await node.keys('strata:{*}:k:spread-*')
      node.disconnect()
      expect(held.length, `master ${master.port}`).toBeGreaterThan(0)
    }
    const cleared = await (c as TestReplica).request('/clear-cache', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    expect(cleared.status).toBe(200)
    // Each partition's clear reaches b on its own shard. Until then a key may still come from
    // L1; once it has, neither L1 nor L2 (a dead generation) answers: the database does.
    for (const key of keys) {
      await eventually(async () => {
        expect((await read(b as TestReplica, key)).level, key).toBe('DB')
      })
    }
  })
})
