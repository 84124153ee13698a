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
