import type { RunningStack } from '@strata/stack/running-stack'
import { median } from '../median.js'
import type { Progress } from '../progress.js'
import { runScenario } from '../run-scenario.js'
import { pointId, type ScalePoint, sizeLabel } from '../scale-plan.js'
import type { Scenario } from '../scenario.js'
import { CPU_ROLES, type CpuByRole, cpuByRole, cpuPerRequest } from '../stack-cpu.js'
import { round } from '../summary.js'

/** What one point measured in one round (closed loop), or the median of its rounds. */
export interface ScaleRow {
  point: string
  replicas: number
  value_bytes: number
  value_size: string
  keys: number
  /** Requests/s of the closed loop: the most the stack serves with `vus` connections. */
  rps: number
  /** Value bytes/s answered (reads and writes × value size): how much data the stack moves. */
  value_mib_per_s: number
  p50_ms: number
  p99_ms: number
  errors: number
  errors_by_kind: Record<string, number>
  l1_hit_rate: number
  l2_hit_rate: number
  combined_hit_rate: number
  cpu_us_per_req: CpuByRole
  /** Sum over the roles: what one request costs the whole stack. */
  cpu_us_per_req_total: number
  requests: number
  /** Each round's requests/s, in the median row. */
  rounds_rps?: number[]
}

/**
 * One closed-loop run of `scenario` on `stack`, with the CPU time of every role over the
 * measured window. `seedAndPrime` seeds the data set and fills L2 first (the first round).
 */
export async function measurePoint(
  stack: RunningStack,
  point: ScalePoint,
  options: {
    scenario: Scenario
    vus: number
    warmupMs: number
    durationMs: number
    seed: number
    seedAndPrime: boolean
    written: Set<string>
    progress: Progress
    label: string
    signal: AbortSignal
  },
): Promise<ScaleRow> {
  let start: { cpu: CpuByRole; at: number } | undefined
  const summary = await runScenario({
    target: new URL(stack.nginxUrl),
    scenario: options.scenario,
    databaseUrl: options.seedAndPrime ? stack.databaseUrl : undefined,
    vus: options.vus,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    prime: options.seedAndPrime,
    thresholds: [],
    seed: options.seed,
    written: options.written,
    progress: options.progress,
    label: options.label,
    signal: options.signal,
    onMeasureStart: () => {
      start = { cpu: cpuByRole(stack), at: performance.now() }
    },
  })
  const end = { cpu: cpuByRole(stack), at: performance.now() }
  if (!start) throw new Error('the measured window never opened')
  const cpu = cpuPerRequest(
    start.cpu,
    end.cpu,
    summary.requests,
    summary.duration_s,
    (end.at - start.at) / 1000,
  )
  const { dataset } = options.scenario
  return {
    point: pointId(point),
    replicas: point.replicas,
    value_bytes: point.bytes,
    value_size: sizeLabel(point.bytes),
    keys: dataset.keys,
    rps: round(summary.rps, 1),
    value_mib_per_s: round((summary.rps * point.bytes) / 1_048_576, 1),
    p50_ms: summary.latency.all.p50_ms,
    p99_ms: summary.latency.all.p99_ms,
    errors: summary.errors,
    errors_by_kind: summary.errors_by_kind,
    l1_hit_rate: summary.l1_hit_rate,
    l2_hit_rate: summary.l2_hit_rate,
    combined_hit_rate: summary.combined_hit_rate,
    cpu_us_per_req: cpu,
    cpu_us_per_req_total: round(
      CPU_ROLES.reduce((sum, role) => sum + cpu[role], 0),
      1,
    ),
    requests: summary.requests,
  }
}

const medianOf = (values: number[]) => round(median(values), 1)

/** The rounds of one point as one row: medians; errors and requests add up. */
export function medianScaleRow(rows: readonly ScaleRow[]): ScaleRow {
  const first = rows[0]
  if (!first) throw new RangeError('medianScaleRow: no rows')
  const of = (pick: (row: ScaleRow) => number) => medianOf(rows.map(pick))
  return {
    ...first,
    rps: of((r) => r.rps),
    value_mib_per_s: of((r) => r.value_mib_per_s),
    p50_ms: of((r) => r.p50_ms),
    p99_ms: of((r) => r.p99_ms),
    errors: rows.reduce((sum, r) => sum + r.errors, 0),
    errors_by_kind: rows.reduce<Record<string, number>>((all, r) => {
      for (const [kind, n] of Object.entries(r.errors_by_kind)) all[kind] = (all[kind] ?? 0) + n
      return all
    }, {}),
    l1_hit_rate: of((r) => r.l1_hit_rate),
    l2_hit_rate: of((r) => r.l2_hit_rate),
    combined_hit_rate: of((r) => r.combined_hit_rate),
    cpu_us_per_req: Object.fromEntries(
      CPU_ROLES.map((role) => [role, of((r) => r.cpu_us_per_req[role])]),
    ) as CpuByRole,
    cpu_us_per_req_total: of((r) => r.cpu_us_per_req_total),
    requests: rows.reduce((sum, r) => sum + r.requests, 0),
    rounds_rps: rows.map((r) => r.rps),
  }
}

/** report.md: one table by replica count and value size, with how it was measured. */
export function scaleReport(
  rows: readonly ScaleRow[],
  settings: { command: string; vus: number; durationS: number; repeat: number; machine: string },
): string {
  const header =
    '| replicas | value | keys | req/s | MiB/s | p99 ms | L1 % | combined % | replica µs | nginx µs | Redis µs | PostgreSQL µs | total µs |'
  const lines = rows.map((r) =>
    [
      r.replicas,
      r.value_size,
      r.keys.toLocaleString('en-US'),
      Math.round(r.rps).toLocaleString('en-US'),
      r.value_mib_per_s,
      r.p99_ms,
      r.l1_hit_rate,
      r.combined_hit_rate,
      ...CPU_ROLES.map((role) => r.cpu_us_per_req[role].toLocaleString('en-US')),
      r.cpu_us_per_req_total.toLocaleString('en-US'),
    ].join(' | '),
  )
  return [
    '# Scale run: throughput and CPU per request by replica count and value size',
    '',
    `\`${settings.command}\` — read-heavy (Zipf 1.1, 95% reads, 5% writes), closed loop of ${settings.vus} connections through nginx, ${settings.durationS} s measured per point, median of ${settings.repeat} interleaved round(s). CPU per request is each role's CPU time from /proc (summed over its processes) over the requests answered. ${settings.machine}`,
    '',
    'Data sets are capped at 128 MiB of values, so 4 KiB values use 32,768 keys, 64 KiB values 2,048 and 1 MiB values 128 (a smaller Zipf tail: higher hit rates than 100k keys would give). The replicas run with their defaults: values above L2_MAX_ENTRY_BYTES (256 KiB) are cached in neither L2 nor L1, so every 1 MiB read goes to PostgreSQL.',
    '',
    header,
    `|${'---|'.repeat(13)}`,
    ...lines.map((line) => `| ${line} |`),
    '',
  ].join('\n')
}
