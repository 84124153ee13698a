import { setTimeout as sleep } from 'node:timers/promises'
import { httpRequest } from '@strata/stack/http'

/**
 * The cluster's consistency SLI at the end of a run, from a replica's `/cache-stats` (every live
 * replica's checks summed): checks, stale checks and nines within the bound (docs/operations.md,
 * "Consistency SLI"). Empty when the replica does not answer: the SLI is reported, not judged.
 */
export async function consistencyFigures(replicaUrl: string): Promise<Record<string, number>> {
  try {
    const { body } = await httpRequest(`${replicaUrl}/cache-stats`, { timeoutMs: 5_000 })
    const { totals } = (JSON.parse(body) as { cluster: { totals: Record<string, unknown> } })
      .cluster
    const figures: Record<string, number> = {}
    for (const [name, field] of [
      ['sli_checks', 'consistency_checks'],
      ['sli_stale', 'consistency_stale'],
      ['sli_nines', 'consistency_nines'],
    ] as const) {
      const value = totals[field]
      if (typeof value === 'number') figures[name] = value
    }
    return figures
  } catch {
    return {}
  }
}

/**
 * The SLI once the run's last checks have landed: each sampled read is checked
 * `CONSISTENCY_CHECK_DELAY` after it was served, and each replica's row of the cluster view is
 * flushed once a second, so the figures are read again until the check count stays put across
 * `quietMs` (past one flush), for at most `maxMs`.
 */
export async function settledConsistencyFigures(
  replicaUrl: string,
  { quietMs = 1_500, maxMs = 8_000 } = {},
): Promise<Record<string, number>> {
  const deadline = Date.now() + maxMs
  let figures = await consistencyFigures(replicaUrl)
  while (Date.now() + quietMs <= deadline) {
    await sleep(quietMs)
    const next = await consistencyFigures(replicaUrl)
    if (next.sli_checks === figures.sli_checks) return next
    figures = next
  }
  return figures
}
