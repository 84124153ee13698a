import { f1, int, modeLabel } from './report-format.js'
import type { ComparisonReport, ModeRow } from './report-types.js'
import { ms } from './summary.js'

/** `127.0.0.1:21005` → `:21005`: every node runs on this host. */
const port = (node: string) => node.slice(node.lastIndexOf(':'))

/** Each node's commands/s and share, e.g. `:21005 4,120 (33.4%)`. */
const perNode = (row: ModeRow) =>
  (row.redis_nodes ?? [])
    .map((load) => `${port(load.node)} ${int(load.commands_per_s)} (${f1(load.share)}%)`)
    .join(' · ')

const msOrDash = (n: number | null | undefined) => (n === null || n === undefined ? '–' : ms(n))

/** The head of the per-node table, then each mode's cells (see {@link redisNodeCells}). */
export const REDIS_NODE_HEAD = [
  'mode',
  'Redis',
  'commands/s per node (share)',
  'all nodes',
  'busiest ÷ mean',
  'propagation p50 ms',
  'p99 ms',
]

/** The modes that have per-node or propagation figures (runs recorded before them have none). */
export const redisNodeRows = (rows: readonly ModeRow[]): ModeRow[] =>
  rows.filter((r) => r.redis_nodes !== undefined || r.propagation_p99_ms !== undefined)

/** A mode's row of the per-node table, as plain text (no HTML or Markdown syntax). */
export function redisNodeCells(r: ModeRow): string[] {
  const nodes = r.redis_nodes ?? []
  const total = nodes.reduce((sum, load) => sum + load.commands_per_s, 0)
  const none = nodes.length === 0
  return [
    modeLabel(r.mode),
    none ? '–' : r.redis === 'cluster' ? `cluster, ${nodes.length} masters` : 'one server',
    perNode(r) || '–',
    none ? '–' : int(total),
    r.redis_imbalance ? r.redis_imbalance.toFixed(2) : '–',
    msOrDash(r.propagation_p50_ms),
    msOrDash(r.propagation_p99_ms),
  ]
}

/** How the per-node and propagation figures are measured, for the reports. */
export const REDIS_NODE_NOTE =
  'Commands per node are `INFO stats` total_commands_processed deltas over the measured window, asked as the admin user of each node (a cluster: of each master; the commands Strata’s Lua scripts run inside Redis count too). ' +
  'Propagation is what the replicas’ `strata_invalidation_lag_seconds` observed in the window: from the writer publishing an invalidation (its clock) to the eviction on each replica that heard it; ' +
  'the quantiles are interpolated inside the histogram’s buckets (0.1, 0.25, 0.5, 1, 2.5, 5 ms, …), as Prometheus’ `histogram_quantile` does, so they are as coarse as those.'

/**
 * Redis load per node (one server, or each master of a Redis Cluster) and invalidation
 * propagation, per mode; nothing for runs recorded before these figures existed.
 */
export function redisNodesSection(report: ComparisonReport): string[] {
  const rows = redisNodeRows(report.rows)
  if (rows.length === 0) return []
  return [
    '',
    `Redis load per node and invalidation propagation at ${int(report.settings.rate)} req/s:`,
    '',
    `| ${REDIS_NODE_HEAD.join(' | ')} |`,
    `|---|---|---|${'---:|'.repeat(4)}`,
    ...rows.map((r) => `| ${redisNodeCells(r).join(' | ')} |`),
    '',
    REDIS_NODE_NOTE,
  ]
}

/** The cluster against the single server, for the headline: what sharding Redis changed. */
export function clusterHeadline(rows: readonly ModeRow[]): string[] {
  const multi = rows.find((r) => r.mode === 'multi')
  const cluster = rows.find((r) => r.mode === 'multi-cluster')
  if (!multi || !cluster) return []
  const masters = cluster.redis_nodes?.length ?? 0
  return [
    `\`multi\` on a Redis Cluster (${masters} masters) against one Redis server: p50 ${ms(cluster.p50_ms)} vs ${ms(multi.p50_ms)} ms, p99 ${ms(cluster.p99_ms)} vs ${ms(multi.p99_ms)} ms, ` +
      `maximum throughput ${int(cluster.rps)} vs ${int(multi.rps)} req/s; ` +
      `the busiest master ran ${cluster.redis_imbalance?.toFixed(2) ?? '–'}× the masters’ mean; ` +
      `invalidation propagation p99 ${msOrDash(cluster.propagation_p99_ms)} vs ${msOrDash(multi.propagation_p99_ms)} ms.`,
  ]
}
