import type { CacheMode, LoadBalancing, RedisTopology } from '@strata/stack/config'
import { cpuMillis } from '@strata/stack/processes'
import type { RunningStack } from '@strata/stack/running-stack'
import { median } from '../median.js'
import { type Counters, clusterTotals, counterDelta, replicaCounters } from '../probes.js'
import type { Progress } from '../progress.js'
import { histogramDelta, lagHistogram, type Propagation, propagationOf } from '../propagation.js'
import {
  imbalance,
  medianLoads,
  type NodeLoad,
  nodeLoads,
  redisSeeds,
  redisSnapshot,
  snapshotRoundTrips,
} from '../redis-nodes.js'
import type { ModeRow } from '../report.js'
import { runScenario } from '../run-scenario.js'
import type { Scenario } from '../scenario.js'
import { type LoadSummary, round } from '../summary.js'

/** The parts of a stack whose CPU time is accounted for. */
const CPU_KINDS = ['replica', 'redis', 'postgres', 'nginx'] as const
type CpuKind = (typeof CPU_KINDS)[number]

/** A compared variant: a cache mode, nginx's read routing and the Redis the stack runs. */
export interface Variant {
  mode: CacheMode
  lb: LoadBalancing
  redis: RedisTopology
  /** `--baseline`: the worktree of another revision, which starts its stack itself. */
  rootDir?: string
  /** `--baseline`: the commit built in `rootDir`. */
  revision?: string
}

/** The variants compared. */
export const VARIANTS: Record<string, Variant> = {
  multi: { mode: 'multi', lb: 'round-robin', redis: 'single' },
  l2: { mode: 'l2', lb: 'round-robin', redis: 'single' },
  l1: { mode: 'l1', lb: 'round-robin', redis: 'single' },
  none: { mode: 'none', lb: 'round-robin', redis: 'single' },
  'multi-affinity': { mode: 'multi', lb: 'key-affinity', redis: 'single' },
  'multi-cluster': { mode: 'multi', lb: 'round-robin', redis: 'cluster' },
}

/** The variants a comparison runs unless `--modes` says otherwise: the single-server ones. */
export const DEFAULT_MODES = Object.keys(VARIANTS).filter(
  (mode) => VARIANTS[mode]?.redis === 'single',
)

/** What one mode's run measured: the generator's summary and the servers' counters over the window. */
export interface ModeMeasurement {
  /** The fixed-rate run: latency, hit rates, database and Redis load at equal offered load. */
  summary: LoadSummary
  /** Summed replica counters over the fixed-rate run's measured window. */
  server: Counters
  /** Seconds between the two server snapshots. */
  server_window_s: number
  /** CPU time each part of the stack used over the window (process and direct children), ms. */
  cpu_ms: Record<CpuKind, number>
  /** `cluster.totals` as `/cache-stats` reported it at the end. */
  cluster_totals: Record<string, unknown>
  /** Redis round trips in the window, by command, over every node; null without Redis (mode none). */
  redis: { total: number; byCommand: Record<string, number> } | null
  /** What each Redis node (the server, or each cluster master) ran in the window; null without Redis. */
  redis_nodes: NodeLoad[] | null
  /** Invalidation propagation heard by the replicas in the window; null when none was heard. */
  propagation: Propagation | null
}

export async function measureMode(
  stack: RunningStack,
  options: {
    scenario: Scenario
    vus: number
    rate: number
    warmupMs: number
    durationMs: number
    /** Every key the run writes is added here. */
    written: Set<string>
    /** Seed the stack's database and (when `prime`) fill L2 first: the first round only. */
    seedAndPrime: boolean
    prime: boolean
    seed: number
    progress: Progress
    label: string
    signal: AbortSignal
  },
): Promise<ModeMeasurement> {
  const replicaUrls = stack.replicas.map((r) => r.url)
  const seeds = redisSeeds(stack)
  const usesRedis = stack.mode !== 'none' && seeds.length > 0
  const snapshot = async () => {
    const [counters, redis, lag] = await Promise.all([
      replicaCounters(replicaUrls),
      usesRedis ? redisSnapshot(seeds) : Promise.resolve(undefined),
      lagHistogram(replicaUrls),
    ])
    const cpu = Object.fromEntries(
      CPU_KINDS.map((kind) => [kind, cpuMillis(stack.pids[kind] ?? [])]),
    ) as Record<CpuKind, number>
    return { counters, redis, lag, cpu, at: performance.now() }
  }
  let first: ReturnType<typeof snapshot> | undefined
  const summary = await runScenario({
    target: new URL(stack.nginxUrl),
    scenario: options.scenario,
    databaseUrl: options.seedAndPrime ? stack.databaseUrl : undefined,
    vus: options.vus,
    rate: options.rate,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    prime: options.seedAndPrime && options.prime,
    written: options.written,
    thresholds: [],
    seed: options.seed,
    progress: options.progress,
    label: options.label,
    signal: options.signal,
    onMeasureStart: () => {
      first = snapshot()
      // Awaited below; a failure then fails this mode.
      first.catch(() => {})
    },
  })
  const last = await snapshot()
  if (!first) throw new Error('the measured window never opened')
  const start = await first
  const cluster = await clusterTotals(stack.nginxUrl).catch(() => ({}))
  const windowS = (last.at - start.at) / 1000
  return {
    summary,
    server: counterDelta(start.counters, last.counters),
    server_window_s: windowS,
    cpu_ms: Object.fromEntries(
      CPU_KINDS.map((kind) => [kind, last.cpu[kind] - start.cpu[kind]]),
    ) as Record<CpuKind, number>,
    cluster_totals: cluster,
    redis: start.redis && last.redis ? snapshotRoundTrips(start.redis, last.redis) : null,
    redis_nodes: start.redis && last.redis ? nodeLoads(start.redis, last.redis, windowS) : null,
    propagation: propagationOf(histogramDelta(start.lag, last.lag)),
  }
}

/**
 * The read path's Redis commands per read: GETs on an L1 miss and the scripts reads run (the
 * fill lease, the L2 set after a load). The write path's scripts are not a read's: a write's
 * fence (one per invalidation sent; mode l1 sends its invalidations without one) and the
 * writer's fill of L2 after its commit (one per `write_fills`). Everything else a read sends
 * still counts, so extra read commands still show.
 */
export function redisCommandsPerRead(
  byCommand: Readonly<Record<string, number>>,
  server: Pick<Counters, 'reads' | 'invalidations_sent' | 'write_fills'>,
  mode: CacheMode,
): number {
  if (server.reads === 0) return 0
  const evals = (byCommand.evalsha ?? 0) + (byCommand.eval ?? 0)
  const fences = mode === 'l1' ? 0 : server.invalidations_sent
  const writePath = fences + server.write_fills
  return round(((byCommand.get ?? 0) + Math.max(0, evals - writePath)) / server.reads, 3)
}

export function modeRow(mode: string, variant: Variant, m: ModeMeasurement): ModeRow {
  const s = m.summary
  const perRead = m.redis ? redisCommandsPerRead(m.redis.byCommand, m.server, variant.mode) : null
  return {
    mode,
    cache_mode: variant.mode,
    lb: variant.lb,
    redis: variant.redis,
    ...(variant.revision ? { revision: variant.revision } : {}),
    // The closed-loop figures are filled in from the mode's max run, after every round.
    rps: 0,
    offered_rps: s.rate ?? s.rps,
    p50_ms: s.latency.all.p50_ms,
    p95_ms: s.latency.all.p95_ms,
    p99_ms: s.latency.all.p99_ms,
    saturated_p99_ms: 0,
    errors: s.errors,
    dropped: s.dropped,
    l1_hit_rate: s.l1_hit_rate,
    l2_hit_rate: s.l2_hit_rate,
    combined_hit_rate: s.combined_hit_rate,
    db_reads_per_s: m.server_window_s > 0 ? round(m.server.db_reads / m.server_window_s, 1) : 0,
    redis_cmds_per_req: m.redis
      ? round(m.redis.total / Math.max(1, m.server.reads + m.server.invalidations_sent), 3)
      : null,
    redis_cmds_per_read: perRead,
    read_p99_ms: s.latency.read.p99_ms,
    write_p50_ms: s.latency.write.p50_ms,
    write_p99_ms: s.latency.write.p99_ms,
    p99_tail: { write: s.p99_tail.write, L1: s.p99_tail.L1, L2: s.p99_tail.L2, DB: s.p99_tail.DB },
    requests: s.requests,
    reads: s.reads,
    writes: s.writes,
    duration_s: s.duration_s,
    served: s.served,
    cpu_us_per_req: Object.fromEntries(
      CPU_KINDS.map((kind) => [
        kind,
        s.requests === 0
          ? 0
          : round(((m.cpu_ms[kind] * 1000) / s.requests) * (s.duration_s / m.server_window_s), 1),
      ]),
    ) as Record<CpuKind, number>,
    redis_nodes: m.redis_nodes,
    redis_imbalance: m.redis_nodes ? imbalance(m.redis_nodes) : null,
    propagation_p50_ms: m.propagation?.p50_ms ?? null,
    propagation_p99_ms: m.propagation?.p99_ms ?? null,
    ...(s.scenario === 'hot-key'
      ? {
          db_loads_per_write: dbLoadsPerWrite(m.server.db_reads, s.writes),
          hot_key_combined_hit_rate: s.by_group?.['#1']?.combined_hit_rate ?? null,
        }
      : {}),
  }
}

/**
 * Database loads per write: the replicas' `db_reads` over the window (already summed over the
 * replicas) divided by the writes in it, to 3 decimals; null when nothing was written.
 */
export const dbLoadsPerWrite = (dbReads: number, writes: number): number | null =>
  writes === 0 ? null : round(dbReads / writes, 3)

/** The figures of a row that several runs combine by their median. */
const MEDIAN_FIELDS = [
  'p50_ms',
  'p95_ms',
  'p99_ms',
  'saturated_p99_ms',
  'l1_hit_rate',
  'l2_hit_rate',
  'combined_hit_rate',
  'db_reads_per_s',
  'read_p99_ms',
  'write_p50_ms',
  'write_p99_ms',
] as const
/** Figures that are null in a mode without them (no Redis, no bus): the median, or null. */
const NULLABLE_FIELDS = [
  'redis_cmds_per_req',
  'redis_cmds_per_read',
  'redis_imbalance',
  'propagation_p50_ms',
  'propagation_p99_ms',
  'db_loads_per_write',
  'hot_key_combined_hit_rate',
] as const
/** The counts that several runs add up. */
const SUM_FIELDS = ['errors', 'dropped', 'requests', 'reads', 'writes', 'duration_s'] as const

const medianOf = (values: number[]) => round(median(values), 3)

/** A breakdown (tail shares, CPU per part, tiers) whose every part is the median of the runs'. */
function medianParts<T extends Record<string, number>>(breakdowns: readonly T[]): T {
  const first = breakdowns[0] as T
  return Object.fromEntries(
    Object.keys(first).map((part) => [part, medianOf(breakdowns.map((b) => b[part] as number))]),
  ) as T
}

/** One row per mode from several runs: the median of every figure; errors and drops add up. */
export function medianRow(runs: readonly ModeRow[]): ModeRow {
  const first = runs[0] as ModeRow
  if (runs.length === 1) return first
  // Spread over `first`, so the keys keep the order they have in a single run's row.
  const row: ModeRow = { ...first }
  for (const field of MEDIAN_FIELDS) row[field] = medianOf(runs.map((r) => r[field]))
  for (const field of SUM_FIELDS) row[field] = runs.reduce((total, r) => total + r[field], 0)
  for (const field of NULLABLE_FIELDS) {
    const values = runs.map((r) => r[field])
    // Rows of runs recorded before a figure existed leave it out.
    if (values.every((value) => value === undefined)) continue
    row[field] = values.every((value) => typeof value === 'number')
      ? medianOf(values as number[])
      : null
  }
  if (runs.some((r) => r.redis_nodes !== undefined)) {
    const loads = runs.map((r) => r.redis_nodes)
    row.redis_nodes = loads.every(Boolean) ? medianLoads(loads as NodeLoad[][]) : null
  }
  row.p99_tail = medianParts(runs.map((r) => r.p99_tail))
  row.cpu_us_per_req = medianParts(runs.map((r) => r.cpu_us_per_req))
  row.served = medianParts(runs.map((r) => r.served))
  row.rounds = runs.map((r) => ({
    p99_ms: r.p99_ms,
    read_p99_ms: r.read_p99_ms,
    combined_hit_rate: r.combined_hit_rate,
    l1_hit_rate: r.l1_hit_rate,
  }))
  return row
}
