import { readFileSync } from 'node:fs'
import {
  type ComparisonReport,
  cmds,
  f1,
  headline,
  int,
  type ModeRow,
  modeLabel,
} from './report.js'
import { REDIS_NODE_HEAD, REDIS_NODE_NOTE, redisNodeCells, redisNodeRows } from './report-redis.js'
import { ms } from './summary.js'
import { barChart } from './svg.js'

/** A page of `templates/`, read once. */
const template = (name: string) =>
  readFileSync(new URL(`./templates/${name}`, import.meta.url), 'utf8')
const REPORT_PAGE = template('report.html')
const CHART_PAGE = template('chart-page.html')

/**
 * A template with every `{{name}}` replaced by `values[name]`, which is HTML (escape text
 * first). A name without a value throws, so that a renamed field cannot go missing silently.
 */
export function fillTemplate(
  page: string,
  values: Readonly<Record<string, string | number>>,
): string {
  return page.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`template field {{${name}}} has no value`)
    return String(value)
  })
}

const COLORS = {
  L1: '#2563eb',
  L2: '#f59e0b',
  DB: '#9ca3af',
  p50: '#93c5fd',
  p95: '#3b82f6',
  p99: '#1e3a8a',
  rps: '#059669',
}

/** The charts (inline SVG): hit rates, latency percentiles, throughput. */
export function charts(rows: readonly ModeRow[], width = 560): string[] {
  const categories = rows.map((r) => modeLabel(r.mode))
  const offered = int(rows[0]?.offered_rps ?? 0)
  return [
    barChart({
      title: 'Where reads were served (% of reads)',
      unit: '%',
      categories,
      stacked: true,
      max: 100,
      width,
      series: [
        { name: 'L1 (process)', color: COLORS.L1, values: rows.map((r) => r.served.L1) },
        { name: 'L2 (Redis)', color: COLORS.L2, values: rows.map((r) => r.served.L2) },
        { name: 'PostgreSQL', color: COLORS.DB, values: rows.map((r) => r.served.DB) },
      ],
    }),
    barChart({
      title: `Latency at ${offered} req/s offered (ms, lower is better)`,
      unit: ' ms',
      categories,
      width,
      digits: 1,
      series: [
        { name: 'p50', color: COLORS.p50, values: rows.map((r) => r.p50_ms) },
        { name: 'p95', color: COLORS.p95, values: rows.map((r) => r.p95_ms) },
        { name: 'p99', color: COLORS.p99, values: rows.map((r) => r.p99_ms) },
      ],
    }),
    barChart({
      title: 'Maximum throughput (requests/s, higher is better)',
      unit: '',
      categories,
      width,
      digits: 0,
      series: [{ name: 'req/s', color: COLORS.rps, values: rows.map((r) => r.rps) }],
    }),
    barChart({
      title: `Database reads/s at ${offered} req/s offered (lower is better)`,
      unit: '',
      categories,
      width,
      digits: 0,
      series: [{ name: 'DB reads/s', color: COLORS.DB, values: rows.map((r) => r.db_reads_per_s) }],
    }),
  ]
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Markdown inline code and bold → HTML, for the few sentences the report shares with report.md. */
const inline = (text: string) =>
  escapeHtml(text)
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/`([^`]+)`/g, '<code>$1</code>')

/** A table of HTML cells; a cell with a class is `[class, html]`. */
function htmlTable(
  head: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | [string, string]>>,
): string {
  const cell = (c: string | [string, string]) =>
    typeof c === 'string' ? `<td>${c}</td>` : `<td class="${c[0]}">${c[1]}</td>`
  return [
    `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>`,
    ...rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`),
    '</tbody></table>',
  ].join('\n')
}

/** The comparison table, as report.md's. */
const modesTable = (rows: readonly ModeRow[]) =>
  htmlTable(
    [
      'mode',
      'reads routed',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'L1 hit',
      'L2 hit',
      'combined',
      'DB reads/s',
      'Redis cmds/req',
      'Redis cmds/read',
      'max req/s',
      'errors',
    ],
    rows.map((r) => [
      escapeHtml(modeLabel(r.mode)),
      r.lb,
      ms(r.p50_ms),
      ms(r.p95_ms),
      ms(r.p99_ms),
      `${f1(r.l1_hit_rate)}%`,
      `${f1(r.l2_hit_rate)}%`,
      `<strong>${f1(r.combined_hit_rate)}%</strong>`,
      int(r.db_reads_per_s),
      cmds(r.redis_cmds_per_req),
      cmds(r.redis_cmds_per_read),
      int(r.rps),
      `${r.errors}${r.dropped ? ` (${r.dropped} dropped)` : ''}`,
    ]),
  )

/** How the modes were laid out on stacks, in a few words. */
const stacksLayout = (report: ComparisonReport, interleaved: string) =>
  report.settings.interleaved_l2_ttl_s !== undefined ? interleaved : 'a fresh stack per mode'

/** `report.html`: self-contained (inline CSS and SVG, no scripts, nothing fetched). */
export function htmlReport(report: ComparisonReport): string {
  const s = report.settings
  const rows = report.rows
  const targets =
    report.targets.length === 0
      ? ''
      : `<h2>Targets</h2>${htmlTable(
          ['target', 'measured', ''],
          report.targets.map((t) => {
            const verdict = t.met ? 'met' : 'missed'
            return [inline(t.target), inline(t.measured), [verdict, verdict]]
          }),
        )}`
  return fillTemplate(REPORT_PAGE, {
    scenario: escapeHtml(report.scenario),
    description: escapeHtml(report.description),
    replicas: s.replicas,
    stacks: stacksLayout(report, 'one stack per mode, modes interleaved round by round'),
    rate: int(s.rate),
    connections: s.connections,
    vus: s.vus,
    duration: s.duration_s,
    warmup: s.warmup_s,
    primed: s.primed ? ', L2 primed with every key' : '',
    measuredAt: escapeHtml(report.generatedAt.slice(0, 16).replace('T', ' ')),
    cpus: report.machine.cpus,
    cpuModel: escapeHtml(report.machine.cpu_model),
    node: escapeHtml(report.machine.node),
    command: escapeHtml(report.command),
    charts: charts(rows).join('\n'),
    table: modesTable(rows),
    redisNodes: redisNodesTable(rows),
    headline: headline(rows)
      .map((line) => `<li>${inline(line)}</li>`)
      .join(''),
    targets,
  })
}

/** Redis commands per node and invalidation propagation per mode; empty for older runs. */
function redisNodesTable(rows: readonly ModeRow[]): string {
  const withFigures = redisNodeRows(rows)
  if (withFigures.length === 0) return ''
  return `<h2>Redis per node, invalidation propagation</h2>${htmlTable(
    REDIS_NODE_HEAD,
    withFigures.map((r) => redisNodeCells(r).map(escapeHtml)),
  )}<p class="meta">${inline(REDIS_NODE_NOTE)}</p>`
}

/** Pixel size of `chartPage` for the screenshot. */
export function chartPageSize(rows: number): { width: number; height: number } {
  // Two rows of charts (see barChart's layout): hit rates beside latency (three bars per mode),
  // then throughput beside database reads (one bar per mode).
  const latency = 54 + 47 * rows + 26
  const single = 54 + 34 * rows + 26
  return { width: 1232, height: 24 + 34 + latency + 20 + single + 24 }
}

/** A page with only the charts, two by two, for the PNG in the README. */
export function chartPage(report: ComparisonReport): string {
  return fillTemplate(CHART_PAGE, {
    scenario: escapeHtml(report.scenario),
    replicas: report.settings.replicas,
    stacks: stacksLayout(report, 'modes interleaved'),
    cpus: report.machine.cpus,
    charts: charts(report.rows).join('\n'),
  })
}
