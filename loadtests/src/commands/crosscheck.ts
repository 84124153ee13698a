import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { freeStackPorts } from '@strata/stack/ports'
import { SCENARIO_PARAMS } from '../../scenarios/params.js'
import { readHeavy } from '../../scenarios/read-heavy.js'
import {
  type CrosscheckLine,
  crosscheck,
  type MixFigures,
  medianFigures,
  type WrkMixCounts,
  wrkMixFigures,
} from '../crosscheck.js'
import type { LoadtestEnv } from '../env.js'
import { duration, int, parseOptions } from '../options.js'
import { Progress } from '../progress.js'
import { machineInfo, resultDir, timestamp, writeJson } from '../results.js'
import { runScenario } from '../run-scenario.js'
import { showSteps, stackDown, stackUp } from '../stack-client.js'
import { findWrk, runWrk } from '../wrk.js'

/** The wrk script of the mix. */
export const WRK_SCRIPT = join(REPO_ROOT, 'loadtests/wrk/read-heavy.lua')

/** The script's arguments for read-heavy: keys, exponent, write share, value bytes, prefix. */
export function readHeavyWrkArgs(): string[] {
  const p = SCENARIO_PARAMS['read-heavy']
  return [p.keys, p.distribution.s, p.writeShare, p.valueBytes, p.prefix].map(String)
}

export const CROSSCHECK_HELP = `pnpm loadtest:crosscheck [options]
  Cross-checks the load generator against an independent one: the same read-heavy mix (Zipf
  1.1 over the same 100k seeded keys, 95% reads, 5% writes of 100-byte values, the same number
  of connections, closed loop) from our generator and from wrk with loadtests/wrk/read-heavy.lua,
  against one multi-mode stack, seeded and primed once. Rounds alternate which runs first;
  each figure is the median of the rounds. Compares requests/s and the L1, L2 and combined hit
  rates (wrk's counted from X-Cache-Level in the script's response()). Writes
  loadtests/results/<time>-crosscheck/ (summary.json, report.md).

  --duration D      measured window of each run (default 15s)
  --warmup D        warm-up before each run, left out (default 3s; wrk runs it as its own run)
  --vus N           connections of both generators (default 32)
  --replicas N      replicas of the stack (default 3)
  --repeat N        rounds (default 3)

  Exit status: 0 within 10% on every figure, 1 a figure differs by more (or a run failed),
  2 bad arguments. Needs wrk (apt-get install wrk).`

/** `pnpm loadtest:crosscheck`. */
export async function crosscheckCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values } = parseOptions(argv, {
    duration: duration('15s'),
    warmup: duration('3s'),
    vus: int(32),
    replicas: int(3),
    repeat: int(3),
  })
  const wrk = findWrk()
  if (!wrk) {
    console.error('wrk is not installed: apt-get install -y wrk')
    return 1
  }
  const progress = new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) })
  const outDir = resultDir(`${timestamp()}-crosscheck`)
  const workDir = mkdtempSync(join(tmpdir(), 'strata-crosscheck-'))
  // PostgreSQL runs as the `postgres` user when we are root: it must be able to enter the directory.
  chmodSync(workDir, 0o755)
  const dataDir = join(workDir, 'stack')
  const logFile = join(outDir, 'stack.log')
  const stackEnv = { ...env.all, ACCESS_LOG: 'false', L2_CACHE_TTL: env.all.L2_CACHE_TTL ?? '3600' }
  const ours: MixFigures[] = []
  const theirs: MixFigures[] = []
  try {
    const ports = await freeStackPorts(values.replicas, 26_000)
    progress.log(`Starting a ${values.replicas}-replica multi stack on port ${ports.nginx}`)
    const stack = await stackUp(
      {
        dataDir,
        mode: 'multi',
        lb: 'round-robin',
        replicas: values.replicas,
        ports,
        env: stackEnv,
        logFile,
      },
      showSteps(progress, ''),
    )
    const seconds = (ms: number) => Math.max(1, Math.round(ms / 1000))
    const runOurs = async (round: number) => {
      const summary = await runScenario({
        target: new URL(stack.nginxUrl),
        scenario: readHeavy,
        // The first run seeds and primes L2 for both generators.
        databaseUrl: round === 0 ? stack.databaseUrl : undefined,
        prime: round === 0,
        vus: values.vus,
        warmupMs: values.warmup,
        durationMs: values.duration,
        thresholds: [],
        seed: 1 + round,
        progress,
        label: `[round ${round + 1} ours] `,
        signal,
      })
      const figures: MixFigures = {
        rps: summary.rps,
        l1_hit_rate: summary.l1_hit_rate,
        l2_hit_rate: summary.l2_hit_rate,
        combined_hit_rate: summary.combined_hit_rate,
        write_share: summary.requests === 0 ? 0 : (summary.writes / summary.requests) * 100,
      }
      ours.push(figures)
      return figures
    }
    const runTheirs = async (round: number) => {
      const options = { threads: 1, connections: values.vus }
      const script = { path: WRK_SCRIPT, args: readHeavyWrkArgs() }
      const url = stack.nginxUrl
      progress.log(`[round ${round + 1} wrk] warm-up ${seconds(values.warmup)} s`)
      await runWrk(wrk, url, { ...options, durationS: seconds(values.warmup), script })
      progress.log(`[round ${round + 1} wrk] measuring ${seconds(values.duration)} s`)
      const result = await runWrk(wrk, url, {
        ...options,
        durationS: seconds(values.duration),
        script,
      })
      if (!result.script_report) throw new Error('the wrk script printed no WRK_MIX line')
      const figures = wrkMixFigures(result.rps, result.script_report as unknown as WrkMixCounts)
      theirs.push(figures)
      return figures
    }
    for (let round = 0; round < values.repeat && !signal.aborted; round++) {
      // Alternate which generator runs first, as the machine drifts; ours runs first in the
      // first round, which seeds and primes.
      const order = round % 2 === 0 ? [runOurs, runTheirs] : [runTheirs, runOurs]
      for (const run of order) {
        const f = await run(round)
        progress.log(
          `[round ${round + 1}] ${run === runOurs ? 'ours' : 'wrk '}: ${Math.round(f.rps).toLocaleString('en-US')} req/s, L1 ${f.l1_hit_rate}%, L2 ${f.l2_hit_rate}%, combined ${f.combined_hit_rate}%, writes ${f.write_share.toFixed(1)}%`,
        )
      }
    }
  } finally {
    await stackDown(dataDir, stackEnv, logFile).catch(() => {})
    rmSync(workDir, { recursive: true, force: true })
  }
  if (ours.length === 0 || theirs.length === 0) return 1
  const lines = crosscheck(medianFigures(ours), medianFigures(theirs))
  const command = `pnpm loadtest:crosscheck ${argv.join(' ')}`.trim()
  writeJson(join(outDir, 'summary.json'), {
    command,
    machine: machineInfo(),
    settings: values,
    ours,
    wrk: theirs,
    lines,
  })
  const report = crosscheckReport(command, values.vus, lines)
  writeFileSync(join(outDir, 'report.md'), report)
  console.log(`\n${report}\nResults: ${relative(REPO_ROOT, outDir)}/`)
  return lines.every((line) => line.ok) ? 0 : 1
}

function crosscheckReport(command: string, vus: number, lines: readonly CrosscheckLine[]): string {
  return [
    '# Generator cross-check: ours against wrk on read-heavy',
    '',
    `\`${command}\` — ${vus} connections each, closed loop, medians of the rounds.`,
    '',
    '| figure | ours | wrk | difference | within 10% |',
    '|---|---|---|---|---|',
    ...lines.map(
      (l) =>
        `| ${l.figure} | ${l.ours} | ${l.wrk} | ${l.difference_pct}% | ${l.ok ? 'yes' : 'NO'} |`,
    ),
    '',
  ].join('\n')
}
