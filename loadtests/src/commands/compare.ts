import { chmodSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { CACHE_MODES, type CacheMode, REPO_ROOT } from '@strata/stack/config'
import { formatDuration } from '@strata/stack/duration'
import { scenarioNamed } from '../../scenarios/index.js'
import type { LoadtestEnv } from '../env.js'
import {
  duration,
  flag,
  int,
  type OptionValues,
  parseOptions,
  SCENARIO_OPTIONS,
  text,
} from '../options.js'
import { Progress } from '../progress.js'
import { type ModeRow, markdownTable } from '../report.js'
import { publishLatest, resultDir, timestamp } from '../results.js'
import {
  type Baseline,
  baselineCacheDir,
  prepareBaseline,
  resolveRevision,
} from './compare-baseline.js'
import { DEFAULT_MODES, VARIANTS } from './compare-measure.js'
import { measurePaths } from './compare-paths.js'
import { combineRows, comparisonReport, renderCommand, writeReports } from './compare-report.js'
import {
  type CompareSettings,
  type Comparison,
  measureMaxima,
  measureRounds,
  startStacks,
  stopStacks,
} from './compare-rounds.js'

/**
 * L2 lifetime of the compared stacks, seconds, unless L2_CACHE_TTL is set: the keys primed before
 * the first round must stay in L2 until the last, as in a cluster that has served this traffic
 * for a while. (Entries loaded during the run get the same lifetime; L1's stays 60 s.)
 */
const LONG_L2_TTL_S = 3_600

export const COMPARE_HELP = `pnpm loadtest:compare [scenario] [options]
  Runs one scenario against every cache mode (multi, l2, l1, none, multi-affinity; and
  multi-cluster, multi on a Redis Cluster, when --modes names it). Each mode
  gets its own stack (own ports and data directory: a stack you are running is never touched),
  all started before the first round; then every round measures each mode once, in rotating
  order, so the modes are measured minutes apart at most and share the machine's noise. The
  stacks not being measured are paused (SIGSTOP) meanwhile: an idle stack's bus PINGs and stats
  flushes would otherwise run through the measured one's tail. Writes
  loadtests/results/<time>/ and refreshes loadtests/results/latest/ (summary.json, report.md,
  report.html, chart.png).

  Every round starts as the first did, with every key in L2: the first primes L2, and each later
  one first reads again the keys written since (a write leaves only a fence in L2). L2 entries
  live ${LONG_L2_TTL_S / 60} min (L2_CACHE_TTL=${LONG_L2_TTL_S} unless you set it) so the primed keys last until the
  last round; everything else runs with its defaults.

  scenario            read-heavy (default) | hot-key | cold | write-heavy
  --duration D        measured window per mode (default 30s)
  --warmup D          warm-up per mode, left out of the figures (default 5s)
  --rate R            offered load of the main run, requests/s (default 3000): latency, hit
                      rates, DB and Redis load are compared at this same load in every mode
  --vus N             users of the closed-loop run that measures each mode's maximum
                      throughput (default 32); the open loop uses max(N, rate/25) connections
  --max-duration D    measured window of that closed-loop run (default: --duration)
  --modes LIST        comma-separated, e.g. multi,l2 (default the five above); multi-cluster
                      runs multi on a Redis Cluster of 3 masters + 3 replicas (pnpm stack
                      --redis cluster), e.g. --modes multi,multi-cluster: the report then shows
                      each Redis node's commands/s and the invalidation propagation p99 of both
  --replicas N        API replicas per stack (default 3)
  --access-log        keep the replicas' per-request log lines (off by default: they measure pino, not the cache)
  --repeat N          rounds: measure every mode N times, in rotating order, and report
                      medians: on a shared or noisy machine, tails of separate runs differ by
                      more than the modes do (default 1)
  --baseline REV      also run another revision of Strata (a commit, branch or tag, e.g. main or
                      HEAD~3) as one more contender, baseline@<short sha>, on its own stack
                      started by that revision's own stack runner, in the same rounds: "before
                      vs after" in one run. It is built once in a git worktree under
                      $STRATA_BASELINE_CACHE (default ~/.cache/strata/baseline-<sha>) and reused
                      by later runs; the report adds each mode's figures over the baseline's
  --baseline-mode M   the baseline's cache mode (default multi)
  --paths             also measure, after the rounds, each path a contender serves alone
                      through nginx (wrk on 1,000 keys): L1 hits (multi, l1), L2 hits (l2),
                      database reads (none) and writes (every mode): CPU per request of the
                      replicas, nginx, Redis and PostgreSQL, and req/s
  --paths-duration D  measured window of each path (default 5s)
  (hot-key also reports db_loads_per_write, the replicas' database loads per write of the hot
  key, and key #1's combined hit rate)
  --no-prime          do not read every key before the first round
  --no-latest         do not refresh loadtests/results/latest/
  --render DIR        measure nothing: rebuild DIR's report.md, report.html and chart.png
                      from its summary.json
  --seed N            seed of the key streams (default 1)

  Exit status: 0 done, 1 a mode failed or had errors, 2 bad arguments.`

/** The options of `pnpm loadtest:compare`. */
const COMPARE_OPTIONS = {
  ...SCENARIO_OPTIONS,
  rate: int(3000),
  modes: text(DEFAULT_MODES.join(',')),
  replicas: int(3),
  'access-log': flag(),
  'no-latest': flag(),
  repeat: int(1),
  'max-duration': duration(),
  render: text(),
  baseline: text(),
  'baseline-mode': text('multi'),
  paths: flag(),
  'paths-duration': duration('5s'),
}

/** `pnpm loadtest:compare`. */
export async function compareCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values, positionals } = parseOptions(argv, COMPARE_OPTIONS, 1)
  if (values.render !== undefined) {
    return renderCommand(
      resolve(env.invocationDir, values.render),
      !values['no-latest'],
      new Progress({ interactive: false }),
    )
  }
  const settings = compareSettings(values, positionals[0])
  const started = Date.now()
  const run = newComparison(settings, env, signal)
  if (values.baseline !== undefined) {
    try {
      addBaseline(
        settings,
        await prepareBaseline({
          rev: values.baseline,
          mode: settings.baselineMode,
          cacheDir: baselineCacheDir(env.all),
          progress: run.progress,
        }),
      )
    } catch (error) {
      if (error instanceof RangeError) throw error
      run.progress.log(`--baseline ${values.baseline}: ${(error as Error).message}`)
      return 1
    }
  }
  run.progress.log(
    `Comparing ${settings.modes.length} modes on ${settings.scenario.name}: ${settings.repeat} round(s), each measuring every mode at ${settings.rate.toLocaleString('en-US')} req/s offered, then in a closed loop of ${settings.vus} VUs; ${formatDuration(settings.warmupMs)} warm-up + ${formatDuration(settings.durationMs)} measured each. ` +
      `One stack per mode, data in ${run.workDir}; results in ${relative(process.cwd(), run.outDir) || run.outDir}`,
  )
  try {
    await startStacks(run)
    await measureRounds(run)
    await measureMaxima(run)
    if (settings.paths) await measurePaths(run)
  } finally {
    await stopStacks(run)
  }
  const rows = combineRows(run)
  if (rows.length === 0) {
    run.progress.log('No mode completed; nothing to report.')
    return 1
  }
  const complete = await publishReport(run, rows, !values['no-latest'])
  console.log(`Took ${Math.round((Date.now() - started) / 1000)} s.`)
  return run.failed || !complete ? 1 : 0
}

/** What the command line asks for; an unknown scenario or mode throws a RangeError. */
function compareSettings(
  values: OptionValues<typeof COMPARE_OPTIONS>,
  scenarioName: string | undefined,
): CompareSettings {
  const scenario = scenarioNamed(scenarioName ?? 'read-heavy')
  const modes = values.modes.split(',').map((m) => m.trim())
  for (const mode of modes) {
    if (!VARIANTS[mode])
      throw new RangeError(
        `--modes: unknown mode ${JSON.stringify(mode)}; known: ${Object.keys(VARIANTS).join(', ')}`,
      )
  }
  const baselineMode = values['baseline-mode'] as CacheMode
  if (!CACHE_MODES.includes(baselineMode))
    throw new RangeError(`--baseline-mode: must be one of ${CACHE_MODES.join(', ')}`)
  // Checked now, before any stack starts: an unknown or too old revision is a bad argument.
  if (values.baseline !== undefined) resolveRevision(values.baseline)
  return {
    scenario,
    modes,
    variants: { ...VARIANTS },
    baselineMode,
    paths: values.paths,
    pathsDurationMs: values['paths-duration'],
    durationMs: values.duration,
    warmupMs: values.warmup,
    maxDurationMs: values['max-duration'] ?? values.duration,
    vus: values.vus,
    rate: values.rate,
    repeat: values.repeat,
    replicas: values.replicas,
    seed: values.seed,
    prime: !values['no-prime'],
    accessLog: values['access-log'],
  }
}

/** The built baseline joins the contenders, last, with the stack of its own revision. */
function addBaseline(settings: CompareSettings, baseline: Baseline): void {
  settings.modes.push(baseline.name)
  settings.variants[baseline.name] = {
    mode: baseline.mode,
    lb: 'round-robin',
    redis: 'single',
    rootDir: baseline.rootDir,
    revision: baseline.sha,
  }
}

/**
 * Writes the report files, prints the table and the targets, and refreshes latest/ when the
 * comparison is complete (and `latest`); returns whether it is.
 */
async function publishReport(run: Comparison, rows: ModeRow[], latest: boolean): Promise<boolean> {
  const { settings, signal } = run
  const comparison = comparisonReport(run, rows)
  const files = await writeReports(run.outDir, comparison, run.progress)
  console.log(`\n${markdownTable(rows)}\n`)
  for (const t of comparison.targets)
    console.log(`  ${t.met ? '✓' : '✗'} ${t.target}: ${t.measured}`)
  const complete =
    run.runs.length === settings.modes.length * settings.repeat &&
    run.saturated.size === settings.modes.length &&
    !signal.aborted
  const outDir = relative(REPO_ROOT, run.outDir)
  if (latest && complete) {
    const copy = publishLatest(run.outDir, files)
    console.log(`\nResults: ${outDir}/ (also copied to ${relative(REPO_ROOT, copy)}/)`)
  } else {
    console.log(`\nResults: ${outDir}/${complete ? '' : ' (incomplete: latest/ left as it was)'}`)
  }
  return complete
}

/** A comparison with nothing measured yet: its result directory and its stacks' working directory. */
function newComparison(
  settings: CompareSettings,
  env: LoadtestEnv,
  signal: AbortSignal,
): Comparison {
  const outDir = resultDir(timestamp())
  // PostgreSQL runs as the `postgres` user when we are root: it must be able to enter the directory.
  const workDir = mkdtempSync(join(tmpdir(), 'strata-compare-'))
  chmodSync(workDir, 0o755)
  return {
    settings,
    progress: new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) }),
    signal,
    outDir,
    workDir,
    stackEnv: {
      ...env.all,
      ACCESS_LOG: settings.accessLog ? 'true' : 'false',
      // Entries primed at the start must outlive every round (see the help).
      L2_CACHE_TTL: env.all.L2_CACHE_TTL ?? String(LONG_L2_TTL_S),
    },
    logFile: join(outDir, 'stack.log'),
    stacks: new Map(),
    runs: [],
    summaries: {},
    saturated: new Map(),
    paths: new Map(),
    failed: false,
  }
}
