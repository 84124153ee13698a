import { f1, int, modeLabel } from './report-format.js'
import type { BaselineRatios, ComparisonReport, ModeRow } from './report-types.js'
import { ms, round } from './summary.js'

const ratio = (a: number, b: number) => (b === 0 ? 0 : round(a / b, 3))

/** The ratios of every other row against the baseline row; undefined without one. */
export function baselineRatios(rows: readonly ModeRow[]): BaselineRatios | undefined {
  const base = rows.find((r) => r.revision !== undefined)
  if (!base?.revision) return undefined
  return {
    contender: base.mode,
    revision: base.revision,
    ratios: Object.fromEntries(
      rows
        .filter((r) => r !== base)
        .map((r) => [
          r.mode,
          {
            rps: ratio(r.rps, base.rps),
            p99_ms: ratio(r.p99_ms, base.p99_ms),
            cpu_us_per_req_replica: ratio(r.cpu_us_per_req.replica, base.cpu_us_per_req.replica),
          },
        ]),
    ),
  }
}

/** "multi ÷ baseline": each mode against the baseline revision, from the same rounds. */
export function baselineSection(report: ComparisonReport): string[] {
  const b = report.baseline
  if (!b) return []
  const base = report.rows.find((r) => r.mode === b.contender)
  return [
    '',
    '## Against the baseline',
    '',
    `\`${b.contender}\` is commit ${b.revision}${base ? ` in mode \`${base.cache_mode}\`` : ''}, built in its own worktree and run on its own stack in the same rounds as the others. Each figure is the mode's ÷ the baseline's:`,
    '',
    `| mode ÷ ${b.contender} | max req/s | p99 at ${int(report.settings.rate)} req/s | replica CPU per request |`,
    '|---|---:|---:|---:|',
    ...Object.entries(b.ratios).map(
      ([mode, r]) =>
        `| ${modeLabel(mode)} | ${r.rps.toFixed(2)}× | ${r.p99_ms.toFixed(2)}× | ${r.cpu_us_per_req_replica.toFixed(2)}× |`,
    ),
  ]
}

/** `--paths`: CPU per request of each path alone, per contender, as in issue 16's table. */
export function pathsSection(report: ComparisonReport): string[] {
  const rows = report.rows.filter((r) => r.paths && r.paths.length > 0)
  if (rows.length === 0) return []
  return [
    '',
    '## Cost per path',
    '',
    `One path at a time through nginx: wrk, 32 connections, the scenario's first 1,000 keys at random, after an unmeasured warm-up that fills the caches. CPU per request (µs, from /proc, summed over the replicas); “on path” is the share of the replicas' reads the path's tier answered.`,
    '',
    '| mode | path | replicas | nginx | Redis | PostgreSQL | req/s | on path |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.flatMap((r) =>
      (r.paths ?? []).map((p) => {
        const c = p.cpu_us_per_req
        return `| ${modeLabel(r.mode)} | ${p.path} | ${f1(c.replica)} | ${f1(c.nginx)} | ${f1(c.redis)} | ${f1(c.postgres)} | ${int(p.rps)} | ${f1(p.share)}%${p.errors ? ` (${p.errors} errors)` : ''} |`
      }),
    ),
  ]
}

/** hot-key: database loads per write of the hot key, and the hot key's own hit rate. */
export function hotKeySection(report: ComparisonReport): string[] {
  const rows = report.rows.filter((r) => r.db_loads_per_write !== undefined)
  if (rows.length === 0) return []
  const show = (n: number | null | undefined, unit = '') =>
    n === null || n === undefined ? '–' : `${n.toFixed(unit ? 1 : 2)}${unit}`
  return [
    '',
    '## The hot key',
    '',
    `Database loads per write: the replicas' \`db_reads\` over the measured window ÷ the hot key's writes in it (every key is primed into L2 first, so the loads are the hot key's reloads: 1 = one load per write cluster-wide, ${report.settings.replicas} = one per replica). Key #1's combined hit rate is that of its own reads.`,
    '',
    '| mode | DB loads per write | key #1 combined hit | p99 ms |',
    '|---|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${modeLabel(r.mode)} | ${show(r.db_loads_per_write)} | ${show(r.hot_key_combined_hit_rate, '%')} | ${ms(r.p99_ms)} |`,
    ),
  ]
}
