import { describe, expect, it } from 'vitest'
import type { FaultName } from '../src/fault.js'
import { FAULTS } from '../src/faults.js'
import { Progress } from '../src/progress.js'
import { type FaultResult, runFault } from '../src/run-fault.js'
import { DEFAULT_WORKLOAD } from '../src/workload.js'

/**
 * The short chaos run of `pnpm test`: every fault once, briefly, on its own stack. The phases
 * are short but the margins are not: the recovery must happen within 6 s, and the assertions
 * are about what the guarantees promise (no violation, no failed read, the documented write
 * outcomes), never about how fast a loaded machine happens to be.
 */
const run = (name: FaultName, holdMs = 3_000): Promise<FaultResult> =>
  runFault(FAULTS[name], {
    phaseMs: 3_000,
    // Recovery is asserted to happen within this; it takes 0.2–2.6 s on a loaded 2-core machine.
    afterMs: 6_000,
    holdMs,
    latencyMs: 25,
    stalenessBoundMs: 100,
    workload: { ...DEFAULT_WORKLOAD, rate: 150 },
    progress: new Progress({ interactive: false, plainEveryMs: 10_000 }),
    signal: new AbortController().signal,
  })

/** Sums a phase figure over before, during and after. */
const total = (result: FaultResult, figure: (phase: FaultResult['phases'][number]) => number) =>
  result.phases.reduce((sum, phase) => sum + figure(phase), 0)

/**
 * Runs one fault and asserts what every fault must show: the checker found nothing, every key
 * kept its acked version, and the fault's own expectations held (no `failures`).
 */
async function runCoherent(name: FaultName, holdMs?: number): Promise<FaultResult> {
  const result = await run(name, holdMs)
  expect(result.check.examples).toEqual([])
  expect(result.check.totalViolations).toBe(0)
  expect(result.check.checked).toEqual({
    impossibleReads: true,
    lostWrites: true,
    refusedWritesApplied: true,
  })
  // The load really ran and really checked something.
  expect(result.check.writes.acked).toBeGreaterThan(100)
  expect(result.check.staleness.reads).toBeGreaterThan(500)
  expect(result.failures).toEqual([])
  return result
}

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
