import type { RedisTopology } from '@strata/stack/config'
import { expect } from 'vitest'
import type { FaultName } from '../src/fault.js'
import { FAULTS } from '../src/faults.js'
import { Progress } from '../src/progress.js'
import { type FaultResult, runFault } from '../src/run-fault.js'
import { DEFAULT_WORKLOAD } from '../src/workload.js'

/**
 * One fault of the short chaos run of `pnpm test`, on its own stack. The phases are short but
 * the margins are not: the recovery must happen within 6 s, and the assertions are about what
 * the guarantees promise (no violation, no failed read, the documented write outcomes), never
 * about how fast a loaded machine happens to be.
 */
export const shortRun = (
  name: FaultName,
  holdMs = 3_000,
  redis: RedisTopology = 'single',
): Promise<FaultResult> =>
  runFault(FAULTS[name], {
    redis,
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
export const total = (
  result: FaultResult,
  figure: (phase: FaultResult['phases'][number]) => number,
) => result.phases.reduce((sum, phase) => sum + figure(phase), 0)

/**
 * Runs one fault and asserts what every fault must show: the checker found nothing, every key
 * kept its acked version, and the fault's own expectations held (no `failures`).
 */
export async function runCoherent(
  name: FaultName,
  holdMs?: number,
  redis?: RedisTopology,
): Promise<FaultResult> {
  const result = await shortRun(name, holdMs, redis)
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
