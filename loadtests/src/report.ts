import { baselineSection, hotKeySection, pathsSection } from './report-costs.js'
import { cmds, f1, int, modeLabel } from './report-format.js'
import { clusterHeadline, redisNodesSection } from './report-redis.js'
import type { ComparisonReport, ModeRow } from './report-types.js'
import { ms } from './summary.js'

export { cmds, f1, int, modeLabel } from './report-format.js'
export type { ComparisonReport, ModeRow, TargetCheck } from './report-types.js'

/** The comparison table as Markdown. */
export function markdownTable(rows: readonly ModeRow[]): string {
  const offered = rows[0]?.offered_rps ?? 0
  const lines = [
    `| mode | reads routed | p50 ms | p95 ms | p99 ms | L1 hit | L2 hit¹ | combined hit | DB reads/s | Redis cmds/req | Redis cmds/read | max req/s² | errors |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    lines.push(
      `| ${modeLabel(r.mode)} | ${r.lb} | ${ms(r.p50_ms)} | ${ms(r.p95_ms)} | ${ms(r.p99_ms)} | ${f1(r.l1_hit_rate)}% | ${f1(r.l2_hit_rate)}% | **${f1(r.combined_hit_rate)}%** | ${int(r.db_reads_per_s)} | ${cmds(r.redis_cmds_per_req)} | ${cmds(r.redis_cmds_per_read)} | ${int(r.rps)} | ${r.errors}${r.dropped ? ` (${r.dropped} dropped)` : ''} |`,
    )
  }
  lines.push('')
  lines.push(
    `Every column but “max req/s” is measured at the same offered load, ${int(offered)} requests/s (open loop). ` +
      '¹ L2 hit = L2 hits / reads that missed L1, as `/cache-stats` defines it. ² The most each mode served, closed loop (each virtual user sends its next request when the last is answered).',
  )
  return lines.join('\n')
}

/** "Single cache vs multi-tier": the headline differences between `l2` and `multi`. */
export function headline(rows: readonly ModeRow[]): string[] {
  const multi = rows.find((r) => r.mode === 'multi')
  const l2 = rows.find((r) => r.mode === 'l2')
  const none = rows.find((r) => r.mode === 'none')
  const out: string[] = []
  if (multi && l2) {
    const change = (a: number, b: number) =>
      `${a >= b ? '+' : '−'}${f1((Math.abs(a - b) / b) * 100)}%`
    out.push(
      `Multi-tier against a single Redis cache (\`l2\`): ${f1(multi.served.L1)}% of reads never leave the process; ` +
        `p50 ${ms(multi.p50_ms)} vs ${ms(l2.p50_ms)} ms (${change(multi.p50_ms, l2.p50_ms)}) and p99 ${ms(multi.p99_ms)} vs ${ms(l2.p99_ms)} ms (${change(multi.p99_ms, l2.p99_ms)}) at the same load, ` +
        `Redis round trips per request ${cmds(multi.redis_cmds_per_req)} vs ${cmds(l2.redis_cmds_per_req)}, ` +
        `maximum throughput ${int(multi.rps)} vs ${int(l2.rps)} req/s (${change(multi.rps, l2.rps)}).`,
    )
  }
  if (multi && none) {
    out.push(
      `Against no cache (\`none\`): database reads ${int(multi.db_reads_per_s)}/s vs ${int(none.db_reads_per_s)}/s, ` +
        `maximum throughput ${int(multi.rps)} vs ${int(none.rps)} req/s.`,
    )
  }
  out.push(...clusterHeadline(rows))
  return out
}

/** The whole `report.md`. */
export function markdownReport(report: ComparisonReport): string {
  return [
    `# Strata cache modes: \`${report.scenario}\``,
    '',
    introduction(report),
    '',
    `Measured ${report.generatedAt.slice(0, 16).replace('T', ' ')} UTC on ${report.machine.cpus} × ${report.machine.cpu_model}, Node ${report.machine.node}; the load generator shares the machine with the cluster. Reproduce: \`${report.command}\`.`,
    '',
    markdownTable(report.rows),
    '',
    'Hit rates and latencies come from each response’s `X-Cache-Level`, measured by the generator; DB reads/s from the replicas’ `db_reads` counters; Redis commands from `INFO commandstats` (round trips only: commands run inside Lua scripts are not counted; per read = GETs and post-load sets over reads). ' +
      'Latency is per request as the client sees it, through nginx, on a CPU shared by every process.',
    ...roundsSection(report),
    ...cpuSection(report),
    ...baselineSection(report),
    ...pathsSection(report),
    ...hotKeySection(report),
    ...tailSection(report),
    ...redisNodesSection(report),
    ...bullets(headline(report.rows)),
    ...targetsSection(report),
    ...idealSection(report),
    '',
  ].join('\n')
}

/** How the comparison was run. */
function introduction(report: ComparisonReport): string {
  const s = report.settings
  return (
    `${report.description}. ${s.replicas} replicas behind nginx. Each mode is measured twice on its stack: ` +
    `${int(s.rate)} requests/s offered (open loop over up to ${s.connections} keep-alive connections; latency, hit rates, database and Redis load), ` +
    `then ${s.vus} virtual users as fast as they can (maximum throughput); ` +
    `${s.duration_s} s each, after ${s.warmup_s} s of warm-up${s.primed ? ', with L2 primed with every key first (modes that have one)' : ''}. ` +
    (s.repeat > 1
      ? `Every mode was measured ${s.repeat} times in rotating order; the table shows medians. `
      : '') +
    (s.interleaved_l2_ttl_s !== undefined
      ? `Each mode had its own stack, started before the first round, and each round measured every mode in turn, so the modes shared the machine's noise; only the stack being measured ran, the others were paused (SIGSTOP); the maximum throughput was measured once per mode, after the rounds. Every round started with every key in L2 (the first primed it; each later one first read again the keys written since), and L2 entries lived ${s.interleaved_l2_ttl_s} s so that the primed keys lasted until the last round; `
      : 'Each mode ran on a fresh stack (new replicas, empty Redis, same seeded PostgreSQL rows); ') +
    `replica access logs ${s.access_log ? 'on' : 'off'}.`
  )
}

/** With `--repeat`: each round's p99 (and reads' p99, or older runs' maximum), per mode. */
function roundsSection(report: ComparisonReport): string[] {
  if (report.settings.repeat <= 1) return []
  const perRound = (figure: (round: NonNullable<ModeRow['rounds']>[number]) => string) =>
    report.rows.map((r) => `${r.mode} ${(r.rounds ?? []).map(figure).join(' / ')}`).join('; ')
  return [
    '',
    `p99 (ms) of each round, all requests: ${perRound((x) => ms(x.p99_ms))}. ` +
      (report.rows.every((r) => r.rounds?.every((x) => x.read_p99_ms !== undefined))
        ? `Reads only: ${perRound((x) => ms(x.read_p99_ms ?? 0))}.`
        : `Maximum req/s of each run: ${perRound((x) => int(x.rps ?? 0))}.`),
  ]
}

/** CPU per request of each part of the stack, per mode. */
function cpuSection(report: ComparisonReport): string[] {
  if (!report.rows.every((r) => r.cpu_us_per_req)) return []
  return [
    '',
    `CPU per request at ${int(report.settings.rate)} req/s (µs, from /proc; the generator not included):`,
    '',
    '| mode | replicas | Redis | PostgreSQL | nginx | total |',
    '|---|---:|---:|---:|---:|---:|',
    ...report.rows.map((r) => {
      const c = r.cpu_us_per_req
      return `| ${modeLabel(r.mode)} | ${f1(c.replica)} | ${f1(c.redis)} | ${f1(c.postgres)} | ${f1(c.nginx)} | ${f1(c.replica + c.redis + c.postgres + c.nginx)} |`
    }),
  ]
}

/** Latency by kind of request, and what the slowest 1% is made of. */
function tailSection(report: ComparisonReport): string[] {
  // Runs recorded before these figures existed have no tail breakdown.
  if (!report.rows.every((r) => r.p99_tail)) return []
  return [
    '',
    `Latency by kind of request at ${int(report.settings.rate)} req/s (ms), and what the slowest 1% is made of:`,
    '',
    '| mode | p99 all | p99 reads | p50 writes | p99 writes | slowest 1%: writes | L1 reads | L2 reads | DB reads |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...report.rows.map((r) => {
      const t = r.p99_tail
      return `| ${modeLabel(r.mode)} | ${ms(r.p99_ms)} | ${ms(r.read_p99_ms)} | ${ms(r.write_p50_ms)} | ${ms(r.write_p99_ms)} | ${f1(t.write)}% | ${f1(t.L1)}% | ${f1(t.L2)}% | ${f1(t.DB)}% |`
    }),
  ]
}

/** A Markdown list after a blank line; nothing when empty. */
const bullets = (items: readonly string[]) =>
  items.length === 0 ? [] : ['', ...items.map((item) => `- ${item}`)]

function targetsSection(report: ComparisonReport): string[] {
  if (report.targets.length === 0) return []
  return [
    '',
    '## Targets',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...report.targets.map(
      (t) => `| ${t.target} | ${t.measured} | ${t.met ? 'met' : '**missed**'} |`,
    ),
  ]
}

/** The ideal model's hit rates, and multi's by key popularity next to the model's. */
function idealSection(report: ComparisonReport): string[] {
  const { ideal, groups } = report
  if (!ideal) return []
  const lines = [
    '',
    '## Against the ideal',
    '',
    `An exact LRU per replica, an L2 holding every key and writes that invalidate instantly (\`loadtests/src/simulate.ts\`) would give ` +
      `L1 ${f1(ideal.round_robin.l1)}% / combined ${f1(ideal.round_robin.combined)}% with round robin and ` +
      `L1 ${f1(ideal.key_affinity.l1)}% / combined ${f1(ideal.key_affinity.combined)}% with key affinity on this workload.`,
  ]
  if (!groups || groups.length === 0) return lines
  return [
    ...lines,
    '',
    '`multi`, by key popularity (Zipf rank):',
    '',
    '| keys | L1 hit (ideal) | combined hit (ideal) |',
    '|---|---:|---:|',
    ...groups.map(
      (g) =>
        `| ${g.group} | ${f1(g.measured_l1)}% (${f1(g.ideal_l1)}%) | ${f1(g.measured_combined)}% (${f1(g.ideal_combined)}%) |`,
    ),
  ]
}
