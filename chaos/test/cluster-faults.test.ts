import { describe, expect, it } from 'vitest'
import { runCoherent, total } from './short-run.js'

/**
 * The short chaos run of the faults only a Redis Cluster has, each once on its own stack with a
 * 3 + 3 node cluster (see `shortRun`). The other faults run on a single Redis in
 * faults.test.ts; `pnpm chaos --redis cluster` runs them all on a cluster.
 */
describe('Redis Cluster faults under load (short run)', () => {
  it('master-failover: its replica takes over, writes of its shard are refused meanwhile, no read fails, and the node rejoins as a replica', async () => {
    const result = await runCoherent('master-failover', 3_000, 'cluster')
    expect(total(result, (p) => p.failedReads)).toBe(0)
    expect(total(result, (p) => p.writes.unknown)).toBe(0)
    expect(result.phases[1].writeFailureCauses).toEqual({
      '503 CACHE_UNAVAILABLE': result.phases[1].writes.refused,
    })
    // The fault bit: the shard had no master for a while, and its writes were refused.
    expect(result.phases[1].writes.refused).toBeGreaterThan(0)
    const { promotedMs = 0, l1ServingMs = 0 } = result.figures
    expect(promotedMs).toBeGreaterThan(0)
    expect(l1ServingMs).toBeGreaterThanOrEqual(promotedMs)
    expect(result.notes.at(-1)).toMatch(/rejoined as a replica/)
  })

  it('slot-migration: 8 partitions move to another master and back under load, held half-moved, and no read fails', async () => {
    const result = await runCoherent('slot-migration', 1_000, 'cluster')
    expect(total(result, (p) => p.failedReads)).toBe(0)
    expect(total(result, (p) => p.writes.unknown)).toBe(0)
    expect(result.notes[0]).toMatch(/^512 slots \(\d+–\d+, 8 partitions\) moved/)
    expect(result.notes).toContainEqual(
      expect.stringMatching(/^the same slots moved back to redis-\d/),
    )
  })

  it("shard-subscriber-kill: the replica resubscribes that shard's channels, every write is acked, no read fails", async () => {
    const result = await runCoherent('shard-subscriber-kill', 3_000, 'cluster')
    expect(total(result, (p) => p.failedReads)).toBe(0)
    expect(total(result, (p) => p.writes.refused + p.writes.unknown)).toBe(0)
    expect(result.figures.resubscribedMs).toBeGreaterThan(0)
  })
})
