import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { analyzeProfiles, formatProfileReport } from '../cpu-profile.js'
import { machineInfo, writeJson } from '../results.js'
import { textTable } from '../summary.js'
import type { LimitRow, RoundResults, WrkSettings } from './limit-rounds.js'
import { type Contender, HOT_KEY, type LimitRun } from './limit-stacks.js'

/** Writes limit.json and limit.md and prints the table and the ratio; returns the files written. */
export function writeLimitResults(
  run: LimitRun,
  wrk: WrkSettings,
  rows: readonly LimitRow[],
): string[] {
  const { rounds, durationS } = wrk
  const json = {
    generated_at: new Date().toISOString(),
    command: `pnpm loadtest:limit${rounds !== 5 ? ` --rounds ${rounds}` : ''}${durationS !== 5 ? ` --round-duration ${durationS}` : ''}`,
    settings: {
      rounds,
      round_duration_s: durationS,
      connections: wrk.connections,
      threads: wrk.threads,
      replicas: run.replicas,
      profiled: run.profile,
      key: HOT_KEY,
    },
    machine: machineInfo(),
    rows,
  }
  writeJson(join(run.outDir, 'limit.json'), json)
  const table = textTable([
    [
      'contender',
      'median req/s',
      'rounds',
      'p50 ms',
      'p99 ms',
      'ratio to bare',
      'app CPU µs/req',
      'nginx CPU µs/req',
      'L1 share',
    ],
    ...rows.map((r) => [
      r.contender,
      r.median_rps.toLocaleString('en-US'),
      r.rounds_rps.map((n) => n.toLocaleString('en-US')).join(' / '),
      r.p50_ms.toFixed(2),
      r.p99_ms.toFixed(2),
      r.ratio_to_bare.toFixed(3),
      r.app_cpu_us.toFixed(1),
      r.nginx_cpu_us.toFixed(1),
      'l1_share' in r ? `${r.l1_share}%` : '–',
    ]),
  ])
  writeFileSync(join(run.outDir, 'limit.md'), limitMarkdown(json, rows))
  console.log(`\n${table}\n`)
  const shipped = rows[0]
  if (shipped) {
    console.log(
      `Ratio, stack as shipped / bare Hono: ${shipped.ratio_to_bare.toFixed(3)} (target ≥ 0.9: ${shipped.ratio_to_bare >= 0.9 ? 'met' : 'missed'})`,
    )
  }
  return ['limit.json', 'limit.md']
}

/**
 * Where each side's CPU goes per request, from the profiles its processes wrote when they
 * exited (so only after teardown): profile.txt (printed) and profile.json.
 */
export function writeProfile(
  run: LimitRun,
  contenders: readonly Contender[],
  measured: RoundResults,
): string {
  const report = analyzeProfiles(
    run.profileDir,
    Object.fromEntries(
      contenders.map((c) => [
        c.name,
        {
          pids: run.pids[c.name] ?? [],
          windows: measured.windows.get(c.name) ?? [],
          requests: (measured.results.get(c.name) ?? []).reduce((sum, r) => sum + r.requests, 0),
        },
      ]),
    ),
  )
  const text = formatProfileReport(report)
  writeFileSync(join(run.outDir, 'profile.txt'), `${text}\n`)
  writeJson(join(run.outDir, 'profile.json'), report)
  console.log(`\n${text}`)
  return 'profile.txt'
}

function limitMarkdown(
  json: {
    generated_at: string
    command: string
    settings: Record<string, unknown>
    machine: ReturnType<typeof machineInfo>
  },
  rows: readonly LimitRow[],
): string {
  const s = json.settings
  const lines = [
    '# Physical limit: L1 hits through nginx',
    '',
    `\`GET /read/${String(s.key)}\` (an L1 hit on every replica) through nginx, against a bare Hono app returning the same body and headers behind the same nginx.conf, ${String(s.replicas)} replicas each side. wrk -t${String(s.threads)} -c${String(s.connections)}, ${String(s.rounds)} interleaved rounds of ${String(s.round_duration_s)} s, medians. ${json.machine.cpus} × ${json.machine.cpu_model}, Node ${json.machine.node}, ${json.generated_at.slice(0, 16).replace('T', ' ')} UTC. Reproduce: \`${json.command}\`.`,
    '',
    '| contender | median req/s | p50 ms | p99 ms | ratio to bare | app CPU µs/req | nginx CPU µs/req | L1 share |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.contender} | ${r.median_rps.toLocaleString('en-US')} | ${r.p50_ms.toFixed(2)} | ${r.p99_ms.toFixed(2)} | ${r.ratio_to_bare.toFixed(3)} | ${r.app_cpu_us.toFixed(1)} | ${r.nginx_cpu_us.toFixed(1)} | ${r.l1_share !== undefined ? `${r.l1_share}%` : '–'} |`,
    ),
    '',
    'CPU µs/req: CPU time (user + system, from /proc) the processes of each side spent per request during its rounds: the app (three replicas or three bare servers) and nginx (master and workers). It is much less sensitive to other load on the machine than req/s.',
    '',
    `Per round (req/s): ${rows.map((r) => `${r.contender} ${r.rounds_rps.map((n) => n.toLocaleString('en-US')).join(' / ')}`).join('; ')}.`,
    '',
  ]
  return lines.join('\n')
}
