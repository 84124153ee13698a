import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runTimestamp } from '@strata/stack/cli-support'
import { textTable as sharedTextTable } from '@strata/stack/text-table'
import type { FaultResult } from './run-fault.js'
import type { SoakResult } from './soak.js'

/** chaos/results: one directory per run; `latest/` holds the newest (not committed; snapshots go to docs/results/). */
export const RESULTS_DIR = fileURLToPath(new URL('../results', import.meta.url))

/** `2026-11-25T01-30-00`: sortable and safe in a path. */
export const runName = runTimestamp

/** A table as rows of cells; the first row is the header. */
type Table = string[][]

/** Fixed-width columns for a terminal; numbers are right-aligned. */
export const textTable = (table: Table): string =>
  sharedTextTable(table, {
    alignRight: (cell) => /^[-\d.,/ %msx]+$/.test(cell) && /\d/.test(cell),
    rule: true,
  })

/** A GitHub-flavoured markdown table. */
export function markdownTable(table: Table): string {
  const [header, ...body] = table
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`
  const align = (header ?? []).map((_, i) => (i < 2 ? '---' : '---:'))
  return [row(header ?? []), row(align), ...body.map(row)].join('\n')
}

const ms = (value: number | undefined) =>
  value === undefined
    ? 'never'
    : value < 1000
      ? `${Math.round(value)} ms`
      : `${(value / 1000).toFixed(1)} s`
const triple = (values: number[]) => values.join(' / ')

/** One row per fault: the figures the issue asks for. */
export function faultTable(results: readonly FaultResult[]): Table {
  const header = [
    'fault',
    'what',
    'held',
    'failed reads b/d/a',
    'writes acked/503/other',
    'violations',
    'stale reads (max)',
    'recover',
    'hit % b/d/a',
    'read p50/p99 during',
    'in flight b/d',
    'result',
  ]
  const rows = results.map((result) => {
    const [before, during, after] = result.phases
    const total = (key: 'acked' | 'refused' | 'unknown') =>
      before.writes[key] + during.writes[key] + after.writes[key]
    const stale = result.check.staleness
    return [
      result.fault,
      result.title,
      ms(result.faultMs),
      triple([before.failedReads, during.failedReads, after.failedReads]),
      triple([total('acked'), total('refused'), total('unknown')]),
      String(result.check.totalViolations),
      stale.stale === 0 ? '0' : `${stale.stale} (${stale.max.toFixed(1)} ms)`,
      ms(result.recoveryMs),
      triple([before.hitRate, during.hitRate, after.hitRate].map((rate) => Math.round(rate))),
      `${during.readLatency.p50} / ${during.readLatency.p99} ms`,
      `${before.maxInFlight} / ${during.maxInFlight}`,
      result.passed ? 'pass' : 'FAIL',
    ]
  })
  return [header, ...rows]
}

/** What the numbers were measured on. */
export const machine = () => ({
  node: process.version,
  cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown'}`,
  platform: `${process.platform} ${process.arch}`,
})

/** A report's title, the command and when and where it ran, then its summary table. */
function reportHead(title: string, command: string, table: Table): string[] {
  return [
    `# ${title}`,
    '',
    `\`${command}\` — ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} CPUs`,
    '',
    markdownTable(table),
    '',
  ]
}

/** The markdown report of a fault run: the table, then each fault's failures and notes. */
export function faultMarkdown(results: readonly FaultResult[], command: string): string {
  const lines = [
    ...reportHead('Chaos run', command, faultTable(results)),
    'b/d/a: before / during / after the fault. `writes`: acknowledged / refused with 503 (nothing',
    'changed) / other (no answer from the API: outcome unknown). Staleness bound checked: ',
    `${results[0]?.check.stalenessBoundMs ?? 100} ms.`,
    ...(results[0]?.redis === 'cluster'
      ? ['', 'Redis: a Redis Cluster of 3 masters and 3 replicas (`--redis cluster`).']
      : []),
  ]
  for (const result of results) {
    lines.push('', `## ${result.fault}: ${result.title}`, '')
    lines.push(`Result: **${result.passed ? 'pass' : 'FAIL'}**`)
    for (const failure of result.failures) lines.push(`- ${failure}`)
    for (const note of result.notes) lines.push(`- note: ${note}`)
    const figures = Object.entries(result.figures ?? {})
    if (figures.length > 0)
      lines.push(`- figures: ${figures.map(([name, value]) => `${name} ${value}`).join(', ')}`)
    for (const example of result.check.examples.slice(0, 5)) lines.push(`- ${example.message}`)
    lines.push('')
    lines.push(
      markdownTable([
        [
          'phase',
          'ms',
          'reads',
          'failed',
          'hit %',
          'L1 %',
          'p50 ms',
          'p99 ms',
          'max ms',
          'writes a/r/u',
          'in flight',
        ],
        ...result.phases.map((p) => [
          p.phase,
          String(p.durationMs),
          String(p.reads),
          String(p.failedReads),
          String(p.hitRate),
          String(p.l1Rate),
          String(p.readLatency.p50),
          String(p.readLatency.p99),
          String(p.readLatency.max),
          triple([p.writes.acked, p.writes.refused, p.writes.unknown]),
          String(p.maxInFlight),
        ]),
      ]),
    )
    lines.push(
      '',
      `Most requests in flight, per second of the fault: ${result.phases[1].maxInFlightPerSecond.join(', ')}.`,
    )
    const causes = result.phases.flatMap((p) => [
      ...Object.entries(p.failedReadCauses).map(([cause, n]) => `${p.phase}: ${n} reads ${cause}`),
      ...Object.entries(p.writeFailureCauses).map(
        ([cause, n]) => `${p.phase}: ${n} writes ${cause}`,
      ),
    ])
    if (causes.length > 0) lines.push('', `Failures by cause: ${causes.join('; ')}.`)
  }
  return `${lines.join('\n')}\n`
}

/** The markdown report of a soak run. */
export function soakMarkdown(result: SoakResult, command: string): string {
  return [
    ...reportHead('Soak run', command, soakTable(result)),
    `${result.requests} requests at ${result.rate}/s over ${result.durationMs / 1000} s (RSS ` +
      `baseline: the ${result.warmupMs / 1000} s warm-up excluded): ${result.failedReads} failed ` +
      `reads, ${result.unackedWrites} unacknowledged writes, ${result.check.totalViolations} ` +
      `checker violations, ${result.check.staleness.stale} stale reads; read p50 ` +
      `${result.readLatency.p50.toFixed(2)} ms, p99 ${result.readLatency.p99.toFixed(2)} ms, max ` +
      `${result.readLatency.max.toFixed(1)} ms. RSS is read from /proc every 5 s and compared as ` +
      "means over a window after warm-up and at the end; the event-loop delay is prom-client's " +
      '`nodejs_eventloop_lag_max_seconds`, the largest delay since the previous scrape.',
    '',
    `Result: **${result.passed ? 'pass' : 'FAIL'}**`,
    ...result.failures.map((failure) => `- ${failure}`),
    '',
  ].join('\n')
}

/** One row per replica, plus the run's totals. */
export function soakTable(result: SoakResult): Table {
  return [
    [
      'replica',
      'RSS after warm-up',
      'RSS at end',
      'growth',
      'max event-loop delay',
      'loop delays > 100 ms',
    ],
    ...result.replicas.map((replica) => [
      replica.name,
      `${replica.rssWarmMiB.toFixed(1)} MiB`,
      `${replica.rssEndMiB.toFixed(1)} MiB`,
      `${replica.rssGrowthPercent.toFixed(1)} %`,
      `${replica.maxLoopDelayMs.toFixed(1)} ms`,
      String(replica.loopStalls),
    ]),
  ]
}

/** Writes a run's files into `results/<name>/` and copies the listed ones to `results/latest/`. */
export function saveResults(
  name: string,
  files: Record<string, string>,
  publish: readonly string[],
): { dir: string; latest: string } {
  const dir = resolve(RESULTS_DIR, name)
  mkdirSync(dir, { recursive: true })
  for (const [file, text] of Object.entries(files)) writeFileSync(resolve(dir, file), text)
  const latest = resolve(RESULTS_DIR, 'latest')
  mkdirSync(latest, { recursive: true })
  for (const file of publish) {
    rmSync(resolve(latest, file), { force: true })
    cpSync(resolve(dir, file), resolve(latest, file))
  }
  return { dir, latest }
}
