import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { type CacheMode, type LoadBalancing, REPO_ROOT } from '@strata/stack/config'
import { formatDuration } from '@strata/stack/duration'
import { freeStackPorts } from '@strata/stack/ports'
import { cpuMillis } from '@strata/stack/processes'
import type { RunningStack } from '@strata/stack/running-stack'
import { scenarioNamed } from '../../scenarios/index.js'
import type { LoadtestEnv } from '../env.js'
import { primeKeys } from '../generator.js'
import { duration, flag, int, parseOptions, SCENARIO_OPTIONS, text } from '../options.js'
import {
  type Counters,
  clusterTotals,
  counterDelta,
  redisCommandStats,
  redisRoundTrips,
  replicaCounters,
} from '../probes.js'
import { Progress } from '../progress.js'
import {
  type ComparisonReport,
  chartPage,
  chartPageSize,
  htmlReport,
  type ModeRow,
  markdownReport,
  markdownTable,
  type TargetCheck,
} from '../report.js'
import { machineInfo, publishLatest, resultDir, timestamp, writeJson } from '../results.js'
import { runScenario } from '../run-scenario.js'
import { renderPng } from '../screenshot.js'
import { simulate } from '../simulate.js'
import { pauseStack, resumeStack, showSteps, stackDown, stackUp } from '../stack-client.js'
import type { LoadSummary } from '../summary.js'

/** The parts of a stack whose CPU time is accounted for. */
const CPU_KINDS = ['replica', 'redis', 'postgres', 'nginx'] as const
type CpuKind = (typeof CPU_KINDS)[number]

/**
 * L2 lifetime of the compared stacks, seconds, unless L2_CACHE_TTL is set: the keys primed before
 * the first round must stay in L2 until the last, as in a cluster that has served this traffic
 * for a while. (Entries loaded during the run get the same lifetime; L1's stays 60 s.)
 */
const LONG_L2_TTL_S = 3_600

/** The variants compared: a cache mode and nginx's read routing. */
export const VARIANTS: Record<string, { mode: CacheMode; lb: LoadBalancing }> = {
  multi: { mode: 'multi', lb: 'round-robin' },
  l2: { mode: 'l2', lb: 'round-robin' },
  l1: { mode: 'l1', lb: 'round-robin' },
  none: { mode: 'none', lb: 'round-robin' },
  'multi-affinity': { mode: 'multi', lb: 'key-affinity' },
}

export const COMPARE_HELP = `pnpm loadtest:compare [scenario] [options]
  Runs one scenario against every cache mode (multi, l2, l1, none, multi-affinity). Each mode
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
  --modes LIST        comma-separated subset, e.g. multi,l2 (default all five)
  --replicas N        API replicas per stack (default 3)
  --access-log        keep the replicas' per-request log lines (off by default: they measure pino, not the cache)
  --repeat N          rounds: measure every mode N times, in rotating order, and report
                      medians: on a shared or noisy machine, tails of separate runs differ by
                      more than the modes do (default 1)
  --no-prime          do not read every key before the first round
  --no-latest         do not refresh loadtests/results/latest/
  --render DIR        measure nothing: rebuild DIR's report.md, report.html and chart.png
                      from its summary.json
  --seed N            seed of the key streams (default 1)

  Exit status: 0 done, 1 a mode failed or had errors, 2 bad arguments.`

/** `pnpm loadtest:compare`. */
export async function compareCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values, positionals } = parseOptions(
    argv,
    {
      ...SCENARIO_OPTIONS,
      rate: int(3000),
      modes: text(Object.keys(VARIANTS).join(',')),
      replicas: int(3),
      'access-log': flag(),
      'no-latest': flag(),
      repeat: int(1),
      'max-duration': duration(),
      render: text(),
    },
    1,
  )
  if (values.render !== undefined) {
    return renderCommand(
      resolve(env.invocationDir, values.render),
      !values['no-latest'],
      new Progress({ interactive: false }),
    )
  }
  const scenario = scenarioNamed(positionals[0] ?? 'read-heavy')
  const modes = values.modes.split(',').map((m) => m.trim())
  for (const mode of modes) {
    if (!VARIANTS[mode])
      throw new RangeError(
        `--modes: unknown mode ${JSON.stringify(mode)}; known: ${Object.keys(VARIANTS).join(', ')}`,
      )
  }
  const { duration: durationMs, warmup: warmupMs, vus, rate, repeat, replicas, seed } = values
  const maxDurationMs = values['max-duration'] ?? durationMs
  const prime = !values['no-prime']
  const accessLog = values['access-log']
  const progress = new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) })

  const outDir = resultDir(timestamp())
  // PostgreSQL runs as the `postgres` user when we are root: it must be able to enter the directory.
  const workDir = mkdtempSync(join(tmpdir(), 'strata-compare-'))
  chmodSync(workDir, 0o755)
  const stackEnv = {
    ...env.all,
    ACCESS_LOG: accessLog ? 'true' : 'false',
    // Entries primed at the start must outlive every round (see INTERLEAVED in the help).
    L2_CACHE_TTL: env.all.L2_CACHE_TTL ?? String(LONG_L2_TTL_S),
  }
  const logFile = join(outDir, 'stack.log')
  progress.log(
    `Comparing ${modes.length} modes on ${scenario.name}: ${repeat} round(s), each measuring every mode at ${rate.toLocaleString('en-US')} req/s offered, then in a closed loop of ${vus} VUs; ${formatDuration(warmupMs)} warm-up + ${formatDuration(durationMs)} measured each. ` +
      `One stack per mode, data in ${workDir}; results in ${relative(process.cwd(), outDir) || outDir}`,
  )

  // Every mode gets its own stack for the whole run, started before the first round, so that a
  // round measures all modes within minutes: on a shared machine the load drifts on that scale,
  // and modes measured far apart in time would differ by the drift more than by the cache.
  // Only the stack being measured runs; the others are paused (pauseStack).
  const stacks = new Map<string, { dataDir: string; stack?: RunningStack }>()
  const runs: ModeRow[] = []
  const summaries: Record<string, LoadSummary> = {}
  /** Keys each mode's stack has had written since it was last primed. */
  const written = new Map<string, Set<string>>()
  /** Each mode's closed-loop run: the most it serves. */
  const saturated = new Map<string, LoadSummary>()
  let failed = false
  const started = Date.now()
  try {
    for (const [i, mode] of modes.entries()) {
      if (signal.aborted) break
      const variant = VARIANTS[mode] as (typeof VARIANTS)[string]
      const label = `[${mode}] `
      const dataDir = join(workDir, mode)
      mkdirSync(dataDir, { mode: 0o755 })
      const entry: { dataDir: string; stack?: RunningStack } = { dataDir }
      stacks.set(mode, entry)
      const ports = await freeStackPorts(replicas, 23_000 + i * 100)
      progress.log(
        `${label}starting its stack (CACHE_MODE=${variant.mode}, ${variant.lb}) on ports ${ports.nginx}-${ports.postgres}`,
      )
      const upAt = Date.now()
      try {
        entry.stack = await stackUp(
          { dataDir, mode: variant.mode, lb: variant.lb, replicas, ports, env: stackEnv, logFile },
          showSteps(progress, label),
        )
        progress.log(`${label}stack up in ${((Date.now() - upAt) / 1000).toFixed(1)} s`)
        // Paused until its turn: see pauseStack.
        pauseStack(entry.stack)
      } catch (error) {
        failed = true
        progress.log(`${label}FAILED to start: ${(error as Error).message}`)
      }
    }
    // Rounds rotate the order, so no mode always runs first (or right after the same neighbour).
    const plan = Array.from({ length: repeat }, (_, round) =>
      modes.map((_, i) => modes[(i + round) % modes.length] as string),
    ).flatMap((order, round) => order.map((mode) => ({ mode, round })))
    for (const [index, { mode, round }] of plan.entries()) {
      const stack = stacks.get(mode)?.stack
      if (signal.aborted) break
      if (!stack) continue
      const variant = VARIANTS[mode] as (typeof VARIANTS)[string]
      const label = `[${index + 1}/${plan.length} ${mode}] `
      const primes = prime && (variant.mode === 'multi' || variant.mode === 'l2')
      const writes = written.get(mode) ?? new Set<string>()
      written.set(mode, writes)
      try {
        await resumeStack(stack)
        if (round > 0 && primes && writes.size > 0) {
          // Each round starts where the first did, with every key in L2: the keys written since
          // (fenced in L2 until someone reads them) are read once more. Otherwise every round
          // would find more of the tail fenced than the last, and hit rates would drift down
          // with the round number, not with the cache.
          const keys = [...writes]
          writes.clear()
          const reprimed = await primeKeys(new URL(stack.nginxUrl), scenario, { keys, signal })
          progress.log(
            `${label}re-primed the ${reprimed.keys.toLocaleString('en-US')} keys written in earlier rounds in ${reprimed.seconds.toFixed(1)} s`,
          )
        }
        const measured = await measureMode(stack, {
          scenario,
          vus,
          rate,
          warmupMs,
          durationMs,
          // The first round seeds the stack's database and primes L2 (modes l1 and none have no
          // L2 to prime); later rounds find both as the first left them.
          seedAndPrime: round === 0,
          prime: primes,
          written: writes,
          seed: seed + round,
          progress,
          label,
          signal,
        })
        summaries[mode] ??= measured.summary
        const row = modeRow(mode, variant, measured)
        runs.push(row)
        writeJson(join(outDir, repeat > 1 ? `${mode}-round${round + 1}.json` : `${mode}.json`), {
          row,
          ...measured,
        })
        if (row.errors > 0) failed = true
        progress.log(
          `${label}at ${rate.toLocaleString('en-US')} req/s: p99 ${row.p99_ms} ms (reads ${row.read_p99_ms} ms), L1 ${row.l1_hit_rate}%, combined ${row.combined_hit_rate}%; ${row.errors} errors, ${row.dropped} dropped`,
        )
      } catch (error) {
        failed = true
        progress.log(`${label}FAILED: ${(error as Error).message}`)
      } finally {
        pauseStack(stack)
      }
    }
    // Then the most each mode serves, once per mode, after every figure at the offered load:
    // a closed loop pushes several times the traffic through the caches, which the rounds after
    // it would inherit (more keys rewritten, so more reloads) and the ideal model does not.
    for (const [index, mode] of modes.entries()) {
      const stack = stacks.get(mode)?.stack
      if (signal.aborted) break
      if (!stack || !runs.some((r) => r.mode === mode)) continue
      const label = `[max ${index + 1}/${modes.length} ${mode}] `
      try {
        await resumeStack(stack)
        const summary = await runScenario({
          target: new URL(stack.nginxUrl),
          scenario,
          databaseUrl: undefined,
          vus,
          // A short warm-up: the caches are warm, only the new connections are not.
          warmupMs: 2_000,
          durationMs: maxDurationMs,
          prime: false,
          thresholds: [],
          seed: seed + repeat,
          progress,
          label,
          signal,
        })
        saturated.set(mode, summary)
        writeJson(join(outDir, `${mode}-max.json`), summary)
        if (summary.errors > 0) failed = true
        progress.log(
          `${label}${Math.round(summary.rps).toLocaleString('en-US')} req/s, p99 ${summary.latency.all.p99_ms} ms, ${summary.errors} errors`,
        )
      } catch (error) {
        failed = true
        progress.log(`${label}FAILED: ${(error as Error).message}`)
      } finally {
        pauseStack(stack)
      }
    }
  } finally {
    progress.log('Stopping the stacks')
    for (const { dataDir, stack } of stacks.values()) {
      // A paused process would hold SIGTERM pending and never drain.
      if (stack) await resumeStack(stack, 5_000).catch(() => {})
      await stackDown(dataDir, stackEnv, logFile).catch(() => {})
    }
    rmSync(workDir, { recursive: true, force: true })
  }
  const rows = modes.flatMap((mode) => {
    const mine = runs.filter((r) => r.mode === mode)
    if (mine.length === 0) return []
    const row = medianRow(mine)
    const max = saturated.get(mode)
    return [
      max
        ? {
            ...row,
            rps: max.rps,
            saturated_p99_ms: max.latency.all.p99_ms,
            errors: row.errors + max.errors,
          }
        : row,
    ]
  })
  if (rows.length === 0) {
    progress.log('No mode completed; nothing to report.')
    return 1
  }

  const report: ComparisonReport = {
    scenario: scenario.name,
    description: scenario.description,
    generatedAt: new Date().toISOString(),
    command: `pnpm loadtest:compare ${scenario.name} --duration ${durationMs / 1000}s${warmupMs !== 5_000 ? ` --warmup ${warmupMs / 1000}s` : ''}${vus !== 32 ? ` --vus ${vus}` : ''}${rate !== 3000 ? ` --rate ${rate}` : ''}${repeat > 1 ? ` --repeat ${repeat}` : ''}${maxDurationMs !== durationMs ? ` --max-duration ${maxDurationMs / 1000}s` : ''}${modes.join(',') !== Object.keys(VARIANTS).join(',') ? ` --modes ${modes.join(',')}` : ''}`,
    settings: {
      duration_s: durationMs / 1000,
      warmup_s: warmupMs / 1000,
      vus,
      rate,
      connections: Math.max(vus, Math.ceil(rate / 25)),
      repeat,
      replicas,
      primed: prime && scenario.prime,
      access_log: accessLog,
      interleaved_l2_ttl_s: Number(stackEnv.L2_CACHE_TTL),
    },
    machine: machineInfo(),
    rows,
    targets: scenario.name === 'read-heavy' ? readHeavyTargets(rows) : [],
  }
  if (scenario.name === 'read-heavy' && replicas === 3) addIdeal(report, summaries.multi)
  const files = await writeReports(outDir, report, progress)

  console.log(`\n${markdownTable(rows)}\n`)
  for (const t of report.targets) console.log(`  ${t.met ? '✓' : '✗'} ${t.target}: ${t.measured}`)
  const complete =
    runs.length === modes.length * repeat && saturated.size === modes.length && !signal.aborted
  if (!values['no-latest'] && complete) {
    const latest = publishLatest(outDir, files)
    console.log(
      `\nResults: ${relative(REPO_ROOT, outDir)}/ (also copied to ${relative(REPO_ROOT, latest)}/)`,
    )
  } else {
    console.log(
      `\nResults: ${relative(REPO_ROOT, outDir)}/${complete ? '' : ' (incomplete: latest/ left as it was)'}`,
    )
  }
  console.log(`Took ${Math.round((Date.now() - started) / 1000)} s.`)
  return failed || !complete ? 1 : 0
}

/** Writes summary.json, report.md, report.html and chart.png; returns the names written. */
async function writeReports(
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
  ideal?: ComparisonReport['ideal']
  groups?: ComparisonReport['groups']
}

/**
 * Rebuilds report.md, report.html and chart.png of a finished comparison from its summary.json
 * (after a change to the report's layout), and refreshes latest/ unless told not to.
 */
async function renderCommand(dir: string, latest: boolean, progress: Progress): Promise<number> {
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

/** What one mode's run measured: the generator's summary and the servers' counters over the window. */
interface ModeMeasurement {
  /** The fixed-rate run: latency, hit rates, database and Redis load at equal offered load. */
  summary: LoadSummary
  /** Summed replica counters over the fixed-rate run's measured window. */
  server: Counters
  /** Seconds between the two server snapshots. */
  server_window_s: number
  /** CPU time each part of the stack used over the window (process and direct children), ms. */
  cpu_ms: Record<CpuKind, number>
  /** `cluster.totals` as `/cache-stats` reported it at the end. */
  cluster_totals: Record<string, unknown>
  /** Redis round trips in the window, by command; null without Redis (mode none). */
  redis: { total: number; byCommand: Record<string, number> } | null
}

async function measureMode(
  stack: RunningStack,
  options: {
    scenario: ReturnType<typeof scenarioNamed>
    vus: number
    rate: number
    warmupMs: number
    durationMs: number
    /** Every key the run writes is added here. */
    written: Set<string>
    /** Seed the stack's database and (when `prime`) fill L2 first: the first round only. */
    seedAndPrime: boolean
    prime: boolean
    seed: number
    progress: Progress
    label: string
    signal: AbortSignal
  },
): Promise<ModeMeasurement> {
  const replicaUrls = stack.replicas.map((r) => r.url)
  const usesRedis = stack.mode !== 'none' && stack.redisUrl !== undefined
  const snapshot = async () => {
    const [counters, commands] = await Promise.all([
      replicaCounters(replicaUrls),
      usesRedis && stack.redisUrl ? redisCommandStats(stack.redisUrl) : Promise.resolve(undefined),
    ])
    const cpu = Object.fromEntries(
      CPU_KINDS.map((kind) => [kind, cpuMillis(stack.pids[kind] ?? [])]),
    ) as Record<CpuKind, number>
    return { counters, commands, cpu, at: performance.now() }
  }
  let first: ReturnType<typeof snapshot> | undefined
  const summary = await runScenario({
    target: new URL(stack.nginxUrl),
    scenario: options.scenario,
    databaseUrl: options.seedAndPrime ? stack.databaseUrl : undefined,
    vus: options.vus,
    rate: options.rate,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    prime: options.seedAndPrime && options.prime,
    written: options.written,
    thresholds: [],
    seed: options.seed,
    progress: options.progress,
    label: options.label,
    signal: options.signal,
    onMeasureStart: () => {
      first = snapshot()
      // Awaited below; a failure then fails this mode.
      first.catch(() => {})
    },
  })
  const last = await snapshot()
  if (!first) throw new Error('the measured window never opened')
  const start = await first
  const cluster = await clusterTotals(stack.nginxUrl).catch(() => ({}))
  return {
    summary,
    server: counterDelta(start.counters, last.counters),
    server_window_s: (last.at - start.at) / 1000,
    cpu_ms: Object.fromEntries(
      CPU_KINDS.map((kind) => [kind, last.cpu[kind] - start.cpu[kind]]),
    ) as Record<CpuKind, number>,
    cluster_totals: cluster,
    redis: start.commands && last.commands ? redisRoundTrips(start.commands, last.commands) : null,
  }
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

function modeRow(
  mode: string,
  variant: { mode: CacheMode; lb: LoadBalancing },
  m: ModeMeasurement,
): ModeRow {
  const s = m.summary
  // Read-path round trips: GET on an L1 miss, the Lua set after a load. Writes add a fence (an
  // EVALSHA, one per invalidation sent) and a PUBLISH, which are not the read path's.
  let perRead: number | null = null
  if (m.redis) {
    const c = m.redis.byCommand
    const evals = (c.evalsha ?? 0) + (c.eval ?? 0)
    const fences = variant.mode === 'l1' ? 0 : m.server.invalidations_sent
    perRead =
      m.server.reads === 0
        ? 0
        : round(((c.get ?? 0) + Math.max(0, evals - fences)) / m.server.reads, 3)
  }
  return {
    mode,
    cache_mode: variant.mode,
    lb: variant.lb,
    // The closed-loop figures are filled in from the mode's max run, after every round.
    rps: 0,
    offered_rps: s.rate ?? s.rps,
    p50_ms: s.latency.all.p50_ms,
    p95_ms: s.latency.all.p95_ms,
    p99_ms: s.latency.all.p99_ms,
    saturated_p99_ms: 0,
    errors: s.errors,
    dropped: s.dropped,
    l1_hit_rate: s.l1_hit_rate,
    l2_hit_rate: s.l2_hit_rate,
    combined_hit_rate: s.combined_hit_rate,
    db_reads_per_s: m.server_window_s > 0 ? round(m.server.db_reads / m.server_window_s, 1) : 0,
    redis_cmds_per_req: m.redis
      ? round(m.redis.total / Math.max(1, m.server.reads + m.server.invalidations_sent), 3)
      : null,
    redis_cmds_per_read: perRead,
    read_p99_ms: s.latency.read.p99_ms,
    write_p50_ms: s.latency.write.p50_ms,
    write_p99_ms: s.latency.write.p99_ms,
    p99_tail: { write: s.p99_tail.write, L1: s.p99_tail.L1, L2: s.p99_tail.L2, DB: s.p99_tail.DB },
    requests: s.requests,
    reads: s.reads,
    writes: s.writes,
    duration_s: s.duration_s,
    served: s.served,
    cpu_us_per_req: Object.fromEntries(
      CPU_KINDS.map((kind) => [
        kind,
        s.requests === 0
          ? 0
          : round(((m.cpu_ms[kind] * 1000) / s.requests) * (s.duration_s / m.server_window_s), 1),
      ]),
    ) as Record<CpuKind, number>,
  }
}

/** One row per mode from several runs: the median of every figure; errors and drops add up. */
export function medianRow(runs: readonly ModeRow[]): ModeRow {
  const first = runs[0] as ModeRow
  if (runs.length === 1) return first
  const median = (pick: (r: ModeRow) => number) => {
    const xs = runs.map(pick).sort((a, b) => a - b)
    const mid = Math.floor(xs.length / 2)
    const value =
      xs.length % 2 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2
    return round(value, 3)
  }
  const nullableMedian = (pick: (r: ModeRow) => number | null) =>
    runs.some((r) => pick(r) === null) ? null : median((r) => pick(r) as number)
  const sum = (pick: (r: ModeRow) => number) => runs.reduce((total, r) => total + pick(r), 0)
  return {
    ...first,
    p50_ms: median((r) => r.p50_ms),
    p95_ms: median((r) => r.p95_ms),
    p99_ms: median((r) => r.p99_ms),
    saturated_p99_ms: median((r) => r.saturated_p99_ms),
    errors: sum((r) => r.errors),
    dropped: sum((r) => r.dropped),
    l1_hit_rate: median((r) => r.l1_hit_rate),
    l2_hit_rate: median((r) => r.l2_hit_rate),
    combined_hit_rate: median((r) => r.combined_hit_rate),
    db_reads_per_s: median((r) => r.db_reads_per_s),
    redis_cmds_per_req: nullableMedian((r) => r.redis_cmds_per_req),
    redis_cmds_per_read: nullableMedian((r) => r.redis_cmds_per_read),
    read_p99_ms: median((r) => r.read_p99_ms),
    write_p50_ms: median((r) => r.write_p50_ms),
    write_p99_ms: median((r) => r.write_p99_ms),
    p99_tail: {
      write: median((r) => r.p99_tail.write),
      L1: median((r) => r.p99_tail.L1),
      L2: median((r) => r.p99_tail.L2),
      DB: median((r) => r.p99_tail.DB),
    },
    requests: sum((r) => r.requests),
    reads: sum((r) => r.reads),
    writes: sum((r) => r.writes),
    duration_s: sum((r) => r.duration_s),
    cpu_us_per_req: {
      replica: median((r) => r.cpu_us_per_req.replica),
      redis: median((r) => r.cpu_us_per_req.redis),
      postgres: median((r) => r.cpu_us_per_req.postgres),
      nginx: median((r) => r.cpu_us_per_req.nginx),
    },
    served: {
      L1: median((r) => r.served.L1),
      L2: median((r) => r.served.L2),
      DB: median((r) => r.served.DB),
    },
    rounds: runs.map((r) => ({
      p99_ms: r.p99_ms,
      read_p99_ms: r.read_p99_ms,
      combined_hit_rate: r.combined_hit_rate,
      l1_hit_rate: r.l1_hit_rate,
    })),
  }
}

/** The design's targets for read-heavy (issue 5). */
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
  for (const row of rows) {
    if (row.mode === 'multi' || row.mode === 'multi-affinity')
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
