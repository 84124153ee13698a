import { ms } from './summary.js'
/** One mode of a comparison: the figures `summary.json` holds for it. Rates are percentages. */
export interface ModeRow {
  /** `multi`, `l2`, `l1`, `none`, `multi-affinity`. */
  mode: string
  cache_mode: string
  lb: string
  /** The most it served: closed loop, `vus` users sending as fast as answers come back. */
  rps: number
  /** The load of the main run (open loop), at which every other figure is measured. */
  offered_rps: number
  /** Latency at the offered load, over every request. */
  p50_ms: number
  p95_ms: number
  p99_ms: number
  /** p99 of the closed-loop run (queueing included). */
  saturated_p99_ms: number
  /** Errors of both runs. */
  errors: number
  /** Requests the open loop could not send (every connection busy): the mode fell behind. */
  dropped: number
  l1_hit_rate: number
  l2_hit_rate: number
  combined_hit_rate: number
  /** Loader calls (database reads) per second, from the replicas' `db_reads` counters. */
  db_reads_per_s: number
  /** Round trips to Redis per request (reads and writes; see `redisRoundTrips`). */
  redis_cmds_per_req: number | null
  /** Read-path round trips (GET, and the Lua set after a load) per read. */
  redis_cmds_per_read: number | null
  read_p99_ms: number
  write_p50_ms: number
  write_p99_ms: number
  /** Of the requests slower than the overall p99: the share (%) of writes and of reads per tier. */
  p99_tail: { write: number; L1: number; L2: number; DB: number }
  requests: number
  reads: number
  writes: number
  duration_s: number
  served: { L1: number; L2: number; DB: number }
  /**
   * CPU per request at the offered load, µs, from /proc: the replicas, Redis, PostgreSQL (with
   * its backends) and nginx (with its workers). What each mode costs, whatever the latency noise.
   */
  cpu_us_per_req: { replica: number; redis: number; postgres: number; nginx: number }
  /** With `--repeat`: each run's key figures (the row holds their medians). */
  rounds?: Array<{
    p99_ms: number
    /** Absent in older runs. */
    read_p99_ms?: number
    /** Older runs measured the maximum in every round; now it is measured once per mode. */
    rps?: number
    combined_hit_rate: number
    l1_hit_rate: number
  }>
}

/** A target of the design and whether the run met it. */
export interface TargetCheck {
  target: string
  measured: string
  met: boolean
}

/** What a comparison report is made of. */
export interface ComparisonReport {
  scenario: string
  description: string
  generatedAt: string
  command: string
  settings: {
    duration_s: number
    warmup_s: number
    vus: number
    /** Offered load of the main (open-loop) run, requests/s. */
    rate: number
    /** Connections of the open loop: max(vus, rate / 25). */
    connections: number
    /** Runs per mode; figures are medians when above 1. */
    repeat: number
    replicas: number
    primed: boolean
    access_log: boolean
    /**
     * Set when every mode had one stack for the whole run and rounds interleaved the modes (with
     * this L2 lifetime, seconds); absent in older runs, where each run had a fresh stack.
     */
    interleaved_l2_ttl_s?: number
  }
  machine: { node: string; cpus: number; cpu_model: string; platform: string }
  rows: ModeRow[]
  targets: TargetCheck[]
  /** Hit rates of the ideal model (`simulate`), for reference. */
  ideal?: {
    round_robin: { l1: number; combined: number }
    key_affinity: { l1: number; combined: number }
  }
  /** Per-popularity-class hit rates of `multi`, measured and ideal. */
  groups?: Array<{
    group: string
    measured_l1: number
    measured_combined: number
    ideal_l1: number
    ideal_combined: number
  }>
}

const MODE_LABEL: Record<string, string> = {
  multi: 'multi (L1+L2)',
  'multi-affinity': 'multi + affinity',
  l2: 'l2 (Redis only)',
  l1: 'l1 (L1+bus)',
  none: 'none (DB only)',
}
export const modeLabel = (mode: string) => MODE_LABEL[mode] ?? mode

export const f1 = (n: number) => n.toFixed(1)
export const int = (n: number) => Math.round(n).toLocaleString('en-US')
export const cmds = (n: number | null) => (n === null ? '–' : n.toFixed(3))

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
    ...tailSection(report),
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
