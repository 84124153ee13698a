import { describe, expect, it } from 'vitest'
import { runCoherent, total } from './short-run.js'

/** The short chaos run of `pnpm test`: every fault of a single Redis once, briefly (see `shortRun`). */
describe('faults under load (short run)', () => {
  it('redis-kill: reads never fail, writes are acked or refused with 503, and it recovers', async () => {
    const result = await runCoherent('redis-kill')
    expect(total(result, (p) => p.failedReads)).toBe(0)
    // With Redis gone writes are refused, never left in doubt.
    expect(result.phases[1].writes.refused).toBeGreaterThan(0)
    expect(total(result, (p) => p.writes.unknown)).toBe(0)
    expect(result.phases[1].writeFailureCauses).toEqual({
      '503 CACHE_UNAVAILABLE': result.phases[1].writes.refused,
    })
  })

  it('redis-freeze: calls fail fast instead of piling up for the 5 s freeze', async () => {
    const result = await runCoherent('redis-freeze', 5_000)
    expect(total(result, (p) => p.failedReads)).toBe(0)
    expect(result.phases[1].writes.refused).toBeGreaterThan(0)
    expect(total(result, (p) => p.writes.unknown)).toBe(0)
    // Without the breaker every miss waited for two command timeouts (2 s): the median too.
    expect(result.phases[1].readLatency.p50).toBeLessThan(250)
  })

  it.each([
    ['subscriber-kill', 'the replica resubscribes, every write is acked, no read is stale'],
    ['redis-latency', 'a slow Redis link slows L2, never coherence; every write is acked'],
  ] as const)('%s: %s', async (name, _title) => {
    const result = await runCoherent(name)
    expect(total(result, (p) => p.failedReads)).toBe(0)
    expect(total(result, (p) => p.writes.refused + p.writes.unknown)).toBe(0)
  })

  it('replica-kill: nginx moves reads to the others; only writes sent around the kill are in doubt', async () => {
    const result = await runCoherent('replica-kill')
    expect(total(result, (p) => p.failedReads)).toBe(0)
    expect(total(result, (p) => p.writes.refused)).toBe(0)
  })

  it('postgres-restart: cached reads keep being served and writes get 503 until it is back', async () => {
    // Unknown outcomes only for COMMITs cut by the stop itself: the fault's expectations say so,
    // and runCoherent asserts they reported no failure.
    const result = await runCoherent('postgres-restart')
    expect(total(result, (p) => p.failedCachedReads)).toBe(0)
    expect(result.phases[1].writes.refused).toBeGreaterThan(0)
  })

  it('redis-partition: the cut-off replica stops serving L1 in time and refuses writes', async () => {
    const result = await runCoherent('redis-partition')
    expect(total(result, (p) => p.failedReads)).toBe(0)
    expect(result.phases[1].writes.refused).toBeGreaterThan(0)
    expect(total(result, (p) => p.writes.unknown)).toBe(0)
  })

  // Each fault had teeth: some reads came back at least `lateMs` late, and none failed.
  it.each([
    [
      'postgres-latency',
      'a read that joins a load begun before another replica committed is not served stale',
      // The target's loads came back at least 300 ms late (never early).
      300,
    ],
    [
      'replica-pause',
      'a thawed replica serves nothing its lapsed lease no longer covers',
      // Reads sent to the frozen replica waited for the thaw.
      1_000,
    ],
  ] as const)('%s: %s', async (name, _title, lateMs) => {
    const result = await runCoherent(name)
    expect(result.phases[1].readLatency.max).toBeGreaterThanOrEqual(lateMs)
    expect(total(result, (p) => p.failedReads)).toBe(0)
  })

  it('postgres-freeze: cached reads go on; a write is acked, refused, or unknown only while frozen', async () => {
    const result = await runCoherent('postgres-freeze')
    expect(total(result, (p) => p.failedCachedReads)).toBe(0)
  })

  it('commit-reply-lost: a write whose COMMIT reply was lost is answered unknown (504), never refused, and no refusal lies', async () => {
    const result = await runCoherent('commit-reply-lost')
    expect(total(result, (p) => p.failedCachedReads)).toBe(0)
    // The cut writes were left in doubt; any other write that failed was refused by the API
    // while it held the database for unreachable, and the checker found none of those committed.
    expect(total(result, (p) => p.writes.unknown)).toBeGreaterThan(0)
    const causes = new Set(result.phases.flatMap((p) => Object.keys(p.writeFailureCauses)))
    causes.delete('503 DATABASE_UNAVAILABLE')
    expect(causes).toEqual(new Set(['504 OUTCOME_UNKNOWN']))
  })

  it('compound: a pub/sub drop with a Redis crash, then a frozen replica while Redis restarts: coherent throughout', async () => {
    const result = await runCoherent('compound')
    expect(total(result, (p) => p.failedReads)).toBe(0)
    // Writes while Redis is down are refused.
    expect(result.phases[1].writes.refused).toBeGreaterThan(0)
  })
})
