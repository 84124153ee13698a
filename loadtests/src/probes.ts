import { getJson } from '@strata/stack/http'

/** The counters of `/cache-stats` a comparison uses (the original design's field names). */
export const COUNTERS = [
  'reads',
  'l1_hits',
  'l1_misses',
  'l2_hits',
  'l2_misses',
  'db_reads',
  'invalidations_sent',
  'invalidations_received',
  'promotions',
  'stale_sets_rejected',
  'write_fills',
] as const
export type Counters = Record<(typeof COUNTERS)[number], number>

const pick = (source: Record<string, unknown>): Counters =>
  Object.fromEntries(COUNTERS.map((name) => [name, Number(source[name] ?? 0)])) as Counters

/**
 * Every replica's own counters, summed. Asked of each replica directly, because the cluster
 * view (`cluster.totals`) carries the other replicas' figures up to a second late.
 */
export async function replicaCounters(replicaUrls: readonly string[]): Promise<Counters> {
  const rows = await Promise.all(replicaUrls.map((url) => getJson(`${url}/cache-stats`)))
  const sum = pick({})
  for (const row of rows) {
    const own = pick(row)
    for (const name of COUNTERS) sum[name] += own[name]
  }
  return sum
}

/** `/cache-stats` → `cluster.totals`, as the cluster reports it through nginx. */
export async function clusterTotals(nginxUrl: string): Promise<Record<string, unknown>> {
  const stats = await getJson(`${nginxUrl}/cache-stats`)
  const cluster = stats.cluster as { totals?: Record<string, unknown> } | undefined
  return cluster?.totals ?? {}
}

/** Subtracts counter snapshots. */
export const counterDelta = (before: Counters, after: Counters): Counters =>
  Object.fromEntries(COUNTERS.map((name) => [name, after[name] - before[name]])) as Counters

/** Parses `cmdstat_get:calls=12,usec=…` lines. */
export function parseCommandStats(text: string): Record<string, number> {
  const calls: Record<string, number> = {}
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1] ?? ''] = Number(match[2])
  }
  return calls
}

/** Commands Strata's Lua scripts run inside Redis: counted by INFO, but not round trips. */
const SCRIPT_INTERNAL = ['getrange', 'pttl']

/**
 * Round trips between the replicas and Redis in a window, from two `INFO commandstats`
 * snapshots. Redis counts the commands a Lua script runs as if clients had sent them; those are
 * taken out: GETRANGE and PTTL only run in scripts (which read fill leases with GETRANGE rather
 * than GET for this reason, so every GET is a client's), and every SET but the replicas'
 * once-a-second stats flush (which pairs each SET with a ZADD) does too. Our own INFO calls are
 * left out.
 */
export function redisRoundTrips(
  before: Record<string, number>,
  after: Record<string, number>,
): { total: number; byCommand: Record<string, number> } {
  const delta: Record<string, number> = {}
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0)
    if (d > 0) delta[name] = d
  }
  const byCommand: Record<string, number> = {}
  for (const [name, d] of Object.entries(delta)) {
    if (SCRIPT_INTERNAL.includes(name) || name === 'info') continue
    // SETs from the stats flush equal its ZADDs; the rest ran inside scripts.
    byCommand[name] = name === 'set' ? Math.min(d, delta.zadd ?? 0) : d
  }
  const total = Object.values(byCommand).reduce((sum, n) => sum + n, 0)
  return { total, byCommand }
}
