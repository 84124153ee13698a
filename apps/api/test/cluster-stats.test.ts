import type { CacheStats } from '@strata/cache-core'
import { type RedisServer, startRedisServer } from '@strata/test-servers'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClusterStats, clusterTotals, type ReplicaStats, replicaRow } from '../src/cluster-stats.js'

let server: RedisServer
let redis: Redis

beforeAll(async () => {
  server = await startRedisServer()
  redis = new Redis(server.url)
})
afterAll(async () => {
  redis.disconnect()
  await server.stop()
})

const stats = (overrides: Partial<CacheStats>): CacheStats => ({
  reads: 0,
  l1Hits: 0,
  l1Misses: 0,
  l1HitRate: 0,
  l2Hits: 0,
  l2Misses: 0,
  l2HitRate: 0,
  combinedHitRate: 0,
  dbReads: 0,
  promotions: 0,
  staleSetsRejected: 0,
  invalidationsSent: 0,
  invalidationsReceived: 0,
  clearsReceived: 0,
  malformedMessages: 0,
  redisErrors: 0,
  busDisconnects: 0,
  leaseLapses: 0,
  dataLosses: 0,
  joinRetries: 0,
  discardedLoads: 0,
  fencesRestored: 0,
  fillLeaseWaits: 0,
  fillLeaseFills: 0,
  fillLeaseTimeouts: 0,
  writeFills: 0,
  l1Size: 0,
  l1MaxSize: 1000,
  l1Bytes: 0,
  busState: 'up',
  generation: 0,
  ...overrides,
})

/** No consistency check yet, judged by a 100 ms bound. */
const unchecked = { checks: 0, stale: 0, boundMs: 100 }

describe('cluster stats', () => {
  it('lists every replica that flushed recently, and drops one that stopped', async () => {
    const now = Date.now()
    const alive = new ClusterStats(redis, 'cs', () =>
      replicaRow(
        'alive',
        'multi',
        stats({ reads: 10, l1Hits: 6, l1Misses: 4, l2Hits: 3, l2Misses: 1 }),
        now,
        unchecked,
      ),
    )
    const dead = new ClusterStats(redis, 'cs', () =>
      replicaRow('dead', 'multi', stats({ reads: 5, l1Hits: 5 }), now - 60_000, unchecked),
    )
    await alive.flush()
    await dead.flush()
    const rows = await alive.rows(now)
    expect(rows.map((r) => r.replica_id)).toEqual(['alive'])
    expect(await redis.zrange('cs:m:replicas', 0, -1)).toEqual(['alive'])
  })

  it('sums counters and recomputes the rates over the cluster', () => {
    const a = replicaRow(
      'a',
      'multi',
      stats({ reads: 10, l1Hits: 6, l1Misses: 4, l2Hits: 3, l2Misses: 1, dbReads: 1 }),
      0,
      { checks: 900, stale: 0, boundMs: 100 },
    )
    const b = replicaRow(
      'b',
      'multi',
      stats({ reads: 30, l1Hits: 10, l1Misses: 20, l2Hits: 10, l2Misses: 10, dbReads: 10 }),
      0,
      { checks: 100, stale: 1, boundMs: 250 },
    )
    expect(clusterTotals([a, b])).toMatchObject({
      replicas: 2,
      reads: 40,
      l1_hits: 16,
      l1_misses: 24,
      db_reads: 11,
      l1_hit_rate: 40,
      l2_hit_rate: 54.17,
      combined_hit_rate: 72.5,
      consistency_checks: 1000,
      consistency_stale: 1,
      // One stale check in a thousand: three nines, within the widest bound of the two.
      consistency_nines: 3,
      consistency_bound_ms: 250,
    })
  })

  it('shows no nines before any check, and the most nines while none is stale', () => {
    const row = (checks: number, stale: number) =>
      replicaRow('r', 'multi', stats({}), 0, { checks, stale, boundMs: 100 })
    expect(clusterTotals([row(0, 0)]).consistency_nines).toBeNull()
    expect(clusterTotals([row(5, 0)]).consistency_nines).toBe(6)
    expect(clusterTotals([row(5, 5)]).consistency_nines).toBe(0)
    // A row from a replica of an earlier release, without the SLI's fields, counts no check.
    const { consistency_checks, consistency_stale, consistency_bound_ms, ...earlier } = row(0, 0)
    expect(clusterTotals([row(20, 2), earlier as ReplicaStats])).toMatchObject({
      consistency_checks: 20,
      consistency_nines: 1,
      consistency_bound_ms: 100,
    })
  })

  it('lets a replica row expire in Redis once it stops flushing', async () => {
    const short = new ClusterStats(
      redis,
      'ttl',
      () => replicaRow('r', 'multi', stats({}), Date.now(), unchecked),
      20,
    )
    await short.flush()
    const ttl = await redis.pttl('ttl:m:stats:r')
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(100)
  })
})
