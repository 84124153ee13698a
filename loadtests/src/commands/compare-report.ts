import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { scenarioNamed } from '../../scenarios/index.js'
import type { Progress } from '../progress.js'
import {
  type ComparisonReport,
  type ModeRow,
  markdownReport,
  markdownTable,
  type TargetCheck,
} from '../report.js'
import { baselineRatios } from '../report-costs.js'
import { chartPage, chartPageSize, htmlReport } from '../report-html.js'
import { machineInfo, publishLatest, writeJson } from '../results.js'
import { renderPng } from '../screenshot.js'
import { simulate } from '../simulate.js'
import type { LoadSummary } from '../summary.js'
import { round } from '../summary.js'
import { DEFAULT_MODES, medianRow } from './compare-measure.js'
import type { CompareSettings, Comparison } from './compare-rounds.js'

/** One row per mode that completed: the median of its rounds, with its closed-loop figures. */
export function combineRows(run: Comparison): ModeRow[] {
  return run.settings.modes.flatMap((mode) => {
    const mine = run.runs.filter((r) => r.mode === mode)
    if (mine.length === 0) return []
    const row = medianRow(mine)
    const max = run.saturated.get(mode)
    const paths = run.paths.get(mode)
    return [
      {
        ...row,
        ...(max
          ? {
              rps: max.rps,
              saturated_p99_ms: max.latency.all.p99_ms,
              errors: row.errors + max.errors,
            }
          : {}),
        ...(paths ? { paths } : {}),
      },
    ]
  })
}

/** The command that repeats a comparison: the options that differ from their defaults. */
function commandLine(s: CompareSettings): string {
  const parts = [`pnpm loadtest:compare ${s.scenario.name} --duration ${s.durationMs / 1000}s`]
  if (s.warmupMs !== 5_000) parts.push(`--warmup ${s.warmupMs / 1000}s`)
  if (s.vus !== 32) parts.push(`--vus ${s.vus}`)
  if (s.rate !== 3000) parts.push(`--rate ${s.rate}`)
  if (s.repeat > 1) parts.push(`--repeat ${s.repeat}`)
  if (s.maxDurationMs !== s.durationMs) parts.push(`--max-duration ${s.maxDurationMs / 1000}s`)
  // The baseline contender is named by --baseline, not --modes.
  const modes = s.modes.filter((mode) => !s.variants[mode]?.revision)
  if (modes.join(',') !== DEFAULT_MODES.join(',')) parts.push(`--modes ${modes.join(',')}`)
  // The commit, not the name given (HEAD~0, a branch): names move, the report must not.
  const revision = Object.values(s.variants).find((v) => v.revision)?.revision
  if (revision !== undefined) {
    parts.push(`--baseline ${revision.slice(0, 10)}`)
    if (s.baselineMode !== 'multi') parts.push(`--baseline-mode ${s.baselineMode}`)
  }
  if (s.paths)
    parts.push(
      s.pathsDurationMs === 5_000
        ? '--paths'
        : `--paths --paths-duration ${s.pathsDurationMs / 1000}s`,
    )
  return parts.join(' ')
}

/** The report of a finished comparison (with the ideal model's figures for read-heavy). */
export function comparisonReport(run: Comparison, rows: ModeRow[]): ComparisonReport {
  const s = run.settings
  const { scenario } = s
  const report: ComparisonReport = {
    scenario: scenario.name,
    description: scenario.description,
    generatedAt: new Date().toISOString(),
    command: commandLine(s),
    settings: {
      duration_s: s.durationMs / 1000,
      warmup_s: s.warmupMs / 1000,
      vus: s.vus,
      rate: s.rate,
      connections: Math.max(s.vus, Math.ceil(s.rate / 25)),
      repeat: s.repeat,
      replicas: s.replicas,
      primed: s.prime && scenario.prime,
      access_log: s.accessLog,
      interleaved_l2_ttl_s: Number(run.stackEnv.L2_CACHE_TTL),
    },
    machine: machineInfo(),
    rows,
    targets: scenario.name === 'read-heavy' ? readHeavyTargets(rows) : [],
  }
  const baseline = baselineRatios(rows)
  if (baseline) report.baseline = baseline
  if (scenario.name === 'read-heavy' && s.replicas === 3) addIdeal(report, run.summaries.multi)
  return report
}

/** Writes summary.json, report.md, report.html and chart.png; returns the names written. */
export async function writeReports(
  outDir: string,
  report: ComparisonReport,
  progress: Progress,
): Promise<string[]> {
  const summaryJson: SummaryFile = {
    scenario: report.scenario,
    generated_at: report.generatedAt,
    command: report.command,
    settings: report.settings,
    machine: report.machine,
    modes: Object.fromEntries(report.rows.map((r) => [r.mode, r])),
    targets: report.targets,
    ...(report.baseline ? { baseline: report.baseline } : {}),
    ...(report.ideal ? { ideal: report.ideal } : {}),
    ...(report.groups ? { groups: report.groups } : {}),
  }
  writeJson(join(outDir, 'summary.json'), summaryJson)
  writeFileSync(join(outDir, 'report.md'), markdownReport(report))
  writeFileSync(join(outDir, 'report.html'), htmlReport(report))
  const files = ['summary.json', 'report.md', 'report.html']
  const png = await renderPng(
    chartPage(report),
    join(outDir, 'chart.png'),
    chartPageSize(report.rows.length),
  )
  if (png.ok) files.push('chart.png')
  else progress.log(`chart.png not rendered: ${png.reason}`)
  return files
}

/** `summary.json` of a comparison. */
interface SummaryFile {
  scenario: string
  generated_at: string
  command: string
  settings: ComparisonReport['settings']
  machine: ComparisonReport['machine']
  modes: Record<string, ModeRow>
  targets: TargetCheck[]
  baseline?: ComparisonReport['baseline']
  ideal?: ComparisonReport['ideal']
  groups?: ComparisonReport['groups']
}

/**
 * Rebuilds report.md, report.html and chart.png of a finished comparison from its summary.json
 * (after a change to the report's layout), and refreshes latest/ unless told not to.
 */
export async function renderCommand(
  dir: string,
  latest: boolean,
  progress: Progress,
): Promise<number> {
  const saved = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as SummaryFile
  const rows = Object.values(saved.modes)
  const scenario = scenarioNamed(saved.scenario)
  const settings = {
    ...saved.settings,
    repeat: saved.settings.repeat ?? 1,
    connections:
      saved.settings.connections ??
      Math.max(saved.settings.vus, Math.ceil(saved.settings.rate / 25)),
  }
  const report: ComparisonReport = {
    scenario: saved.scenario,
    description: scenario.description,
    generatedAt: saved.generated_at,
    command: saved.command,
    settings,
    machine: saved.machine,
    rows,
    targets: saved.scenario === 'read-heavy' ? readHeavyTargets(rows) : saved.targets,
  }
  const baseline = baselineRatios(rows)
  if (baseline) report.baseline = baseline
  if (saved.scenario === 'read-heavy' && settings.replicas === 3) {
    const first = ['multi.json', 'multi-round1.json'].find((f) => existsSync(join(dir, f)))
    const multi = first
      ? (JSON.parse(readFileSync(join(dir, first), 'utf8')) as { summary: LoadSummary }).summary
      : undefined
    addIdeal(report, multi)
  }
  const files = await writeReports(dir, report, progress)
  console.log(`\n${markdownTable(rows)}\n`)
  if (latest) publishLatest(dir, files)
  console.log(
    `Rendered ${files.join(', ')} in ${relative(REPO_ROOT, dir)}/${latest ? ' (and latest/)' : ''}`,
  )
  return 0
}

/**
 * How much more than its fair share the busiest master of a cluster may run: partitions spread
 * the keys over the slots evenly, but a hot key's writes all land on one master.
 */
const MAX_MASTER_IMBALANCE = 1.25

/** The design's targets for read-heavy (issue 5; multi-cluster's: issue 15). */
function readHeavyTargets(rows: readonly ModeRow[]): TargetCheck[] {
  const by = (mode: string) => rows.find((r) => r.mode === mode)
  const multi = by('multi')
  const affinity = by('multi-affinity')
  const l2 = by('l2')
  const checks: TargetCheck[] = []
  const show = (n: number | null) => (n === null ? '–' : String(round(n, 2)))
  if (multi) {
    checks.push({
      target: 'multi: combined hit rate ≥ 95%',
      measured: `${show(multi.combined_hit_rate)}%`,
      met: multi.combined_hit_rate >= 95,
    })
    checks.push({
      target: 'multi (round robin): L1 hit rate ≥ 55%',
      measured: `${show(multi.l1_hit_rate)}%`,
      met: multi.l1_hit_rate >= 55,
    })
  }
  if (affinity)
    checks.push({
      target: 'multi-affinity: L1 hit rate ≥ 70%',
      measured: `${show(affinity.l1_hit_rate)}%`,
      met: affinity.l1_hit_rate >= 70,
    })
  if (multi && l2) {
    // Rounds measure both modes minutes apart at most: comparing them round by round cancels the
    // machine's drift, which medians alone do not.
    const pairs = (multi.rounds ?? []).flatMap((m, i) => {
      const other = l2.rounds?.[i]
      return other ? [m.p99_ms < other.p99_ms] : []
    })
    const won = pairs.filter(Boolean).length
    checks.push({
      target: 'multi: p99 below l2’s',
      measured:
        `${show(multi.p99_ms)} ms vs ${show(l2.p99_ms)} ms` +
        (pairs.length > 1 ? ` (medians; lower in ${won} of ${pairs.length} rounds)` : ''),
      met: multi.p99_ms < l2.p99_ms,
    })
  }
  if (multi && multi.redis_cmds_per_read !== null) {
    const bound = round((100 - multi.l1_hit_rate) / 100 + 0.05, 3)
    checks.push({
      target: 'multi: Redis commands per read ≤ L1 miss rate + 0.05',
      measured: `${show(multi.redis_cmds_per_read)} ≤ ${bound}`,
      met: multi.redis_cmds_per_read <= bound,
    })
  }
  const cluster = by('multi-cluster')
  if (cluster?.redis_imbalance) {
    checks.push({
      target: `multi-cluster: busiest master ≤ ${MAX_MASTER_IMBALANCE}× the masters' mean commands/s`,
      measured: `${show(cluster.redis_imbalance)}×`,
      met: cluster.redis_imbalance <= MAX_MASTER_IMBALANCE,
    })
  }
  for (const row of rows) {
    if (row.mode === 'multi' || row.mode === 'multi-affinity' || row.mode === 'multi-cluster')
      checks.push({
        target: `${row.mode}: zero errors`,
        measured: String(row.errors),
        met: row.errors === 0,
      })
  }
  return checks
}

/** Adds the ideal model's hit rates, and multi's by key popularity next to the model's. */
function addIdeal(report: ComparisonReport, multi: LoadSummary | undefined): void {
  const scenario = scenarioNamed(report.scenario)
  const rr = simulate({ scenario, lb: 'round-robin' })
  const affinity = simulate({ scenario, lb: 'key-affinity' })
  report.ideal = {
    round_robin: { l1: rr.l1_hit_rate, combined: rr.combined_hit_rate },
    key_affinity: { l1: affinity.l1_hit_rate, combined: affinity.combined_hit_rate },
  }
  if (!multi?.by_group) return
  report.groups = Object.entries(multi.by_group).map(([group, g]) => ({
    group,
    measured_l1: g.l1_hit_rate,
    measured_combined: g.combined_hit_rate,
    ideal_l1: rr.by_group[group]?.l1_hit_rate ?? 0,
    ideal_combined: rr.by_group[group]?.combined_hit_rate ?? 0,
  }))
}
