import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { CacheMode } from '@strata/stack/config'
import { freeStackPorts } from '@strata/stack/ports'
import type { RunningStack } from '@strata/stack/running-stack'
import { primeKeys } from '../generator.js'
import type { Progress } from '../progress.js'
import type { ModeRow } from '../report.js'
import type { PathCost } from '../report-types.js'
import { writeJson } from '../results.js'
import { runScenario } from '../run-scenario.js'
import type { Scenario } from '../scenario.js'
import { pauseStack, resumeStack, showSteps, stackDown, stackUp } from '../stack-client.js'
import type { LoadSummary } from '../summary.js'
import { measureMode, modeRow, type Variant } from './compare-measure.js'

/** What a comparison measures, from its command line. */
export interface CompareSettings {
  scenario: Scenario
  /** The contenders, in order: this revision's modes, then the `--baseline` one if any. */
  modes: string[]
  /** What each contender runs. */
  variants: Record<string, Variant>
  /** The cache mode of the `--baseline` contender. */
  baselineMode: CacheMode
  /** `--paths`: measure each path alone after the rounds, for this long each. */
  paths: boolean
  pathsDurationMs: number
  durationMs: number
  warmupMs: number
  /** Measured window of the closed-loop run. */
  maxDurationMs: number
  vus: number
  rate: number
  repeat: number
  replicas: number
  seed: number
  /** Read every key before the first round (modes with an L2). */
  prime: boolean
  accessLog: boolean
}

/** A comparison under way: its stacks and what has been measured so far. */
export interface Comparison {
  settings: CompareSettings
  progress: Progress
  signal: AbortSignal
  outDir: string
  /** Holds every stack's data directory; removed at the end. */
  workDir: string
  /** The stacks' environment. */
  stackEnv: Readonly<Record<string, string | undefined>>
  /** Where the stack CLI's output goes. */
  logFile: string
  /** One stack per mode, for the whole run; `stack` is unset when it failed to start. */
  stacks: Map<string, ModeStack>
  /** Every fixed-rate run, in the order measured. */
  runs: ModeRow[]
  /** Each mode's first fixed-rate summary (the ideal model's comparison uses multi's). */
  summaries: Record<string, LoadSummary>
  /** Each mode's closed-loop run: the most it serves. */
  saturated: Map<string, LoadSummary>
  /** `--paths`: what each path of each mode costs. */
  paths: Map<string, PathCost[]>
  /** A stack failed to start, a run failed, or a run had errors. */
  failed: boolean
}

/** A contender's stack: its data directory, the checkout that started it, the stack once up. */
interface ModeStack {
  dataDir: string
  rootDir?: string | undefined
  stack?: RunningStack
}

const variantOf = (run: Comparison, mode: string) => run.settings.variants[mode] as Variant

/**
 * Starts every mode's stack before the first round, so that a round measures all modes within
 * minutes: on a shared machine the load drifts on that scale, and modes measured far apart in
 * time would differ by the drift more than by the cache. Only the stack being measured runs;
 * the others are paused (pauseStack).
 */
export async function startStacks(run: Comparison): Promise<void> {
  const { progress, settings, workDir, stackEnv, logFile } = run
  for (const [i, mode] of settings.modes.entries()) {
    if (run.signal.aborted) break
    const variant = variantOf(run, mode)
    const label = `[${mode}] `
    const dataDir = join(workDir, mode)
    mkdirSync(dataDir, { mode: 0o755 })
    const entry: ModeStack = { dataDir, rootDir: variant.rootDir }
    run.stacks.set(mode, entry)
    // A cluster's nodes also listen on port + 10000, which must stay below the ephemeral range.
    const preferred = (variant.redis === 'cluster' ? 21_000 : 23_000) + i * 100
    const ports = await freeStackPorts(settings.replicas, preferred, variant.redis)
    const redis = variant.redis === 'cluster' ? ', Redis Cluster' : ''
    progress.log(
      `${label}starting its stack (CACHE_MODE=${variant.mode}, ${variant.lb}${redis}) on ports ${ports.nginx}-${ports.postgres}`,
    )
    const upAt = Date.now()
    try {
      entry.stack = await stackUp(
        {
          dataDir,
          mode: variant.mode,
          lb: variant.lb,
          redis: variant.redis,
          replicas: settings.replicas,
          ports,
          env: stackEnv,
          logFile,
          rootDir: variant.rootDir,
        },
        showSteps(progress, label),
      )
      progress.log(`${label}stack up in ${((Date.now() - upAt) / 1000).toFixed(1)} s`)
      // Paused until its turn: see pauseStack.
      pauseStack(entry.stack)
    } catch (error) {
      run.failed = true
      progress.log(`${label}FAILED to start: ${(error as Error).message}`)
    }
  }
}

/** Resumes a mode's stack for `measure`, and pauses it again whatever happens. */
export async function onStack(
  run: Comparison,
  stack: RunningStack,
  label: string,
  measure: () => Promise<void>,
): Promise<void> {
  try {
    await resumeStack(stack)
    await measure()
  } catch (error) {
    run.failed = true
    run.progress.log(`${label}FAILED: ${(error as Error).message}`)
  } finally {
    pauseStack(stack)
  }
}

/** Every round measures each mode once at the offered load; rows go to `run.runs`. */
export async function measureRounds(run: Comparison): Promise<void> {
  const { settings, progress, signal } = run
  const { modes, repeat, scenario, rate } = settings
  /** Keys each mode's stack has had written since it was last primed. */
  const written = new Map<string, Set<string>>()
  // Rounds rotate the order, so no mode always runs first (or right after the same neighbour).
  const plan = Array.from({ length: repeat }, (_, round) =>
    modes.map((_, i) => modes[(i + round) % modes.length] as string),
  ).flatMap((order, round) => order.map((mode) => ({ mode, round })))
  for (const [index, { mode, round }] of plan.entries()) {
    const stack = run.stacks.get(mode)?.stack
    if (signal.aborted) break
    if (!stack) continue
    const variant = variantOf(run, mode)
    const label = `[${index + 1}/${plan.length} ${mode}] `
    const primes = settings.prime && (variant.mode === 'multi' || variant.mode === 'l2')
    const writes = written.get(mode) ?? new Set<string>()
    written.set(mode, writes)
    await onStack(run, stack, label, async () => {
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
        vus: settings.vus,
        rate,
        warmupMs: settings.warmupMs,
        durationMs: settings.durationMs,
        // The first round seeds the stack's database and primes L2 (modes l1 and none have no
        // L2 to prime); later rounds find both as the first left them.
        seedAndPrime: round === 0,
        prime: primes,
        written: writes,
        seed: settings.seed + round,
        progress,
        label,
        signal,
      })
      run.summaries[mode] ??= measured.summary
      const row = modeRow(mode, variant, measured)
      run.runs.push(row)
      const file = repeat > 1 ? `${mode}-round${round + 1}.json` : `${mode}.json`
      writeJson(join(run.outDir, file), { row, ...measured })
      if (row.errors > 0) run.failed = true
      progress.log(
        `${label}at ${rate.toLocaleString('en-US')} req/s: p99 ${row.p99_ms} ms (reads ${row.read_p99_ms} ms), L1 ${row.l1_hit_rate}%, combined ${row.combined_hit_rate}%; ${row.errors} errors, ${row.dropped} dropped`,
      )
    })
  }
}

/**
 * Then the most each mode serves, once per mode, after every figure at the offered load: a
 * closed loop pushes several times the traffic through the caches, which the rounds after it
 * would inherit (more keys rewritten, so more reloads) and the ideal model does not.
 */
export async function measureMaxima(run: Comparison): Promise<void> {
  const { settings, progress, signal } = run
  const { modes } = settings
  for (const [index, mode] of modes.entries()) {
    const stack = run.stacks.get(mode)?.stack
    if (signal.aborted) break
    if (!stack || !run.runs.some((r) => r.mode === mode)) continue
    const label = `[max ${index + 1}/${modes.length} ${mode}] `
    await onStack(run, stack, label, async () => {
      const summary = await runScenario({
        target: new URL(stack.nginxUrl),
        scenario: settings.scenario,
        databaseUrl: undefined,
        vus: settings.vus,
        // A short warm-up: the caches are warm, only the new connections are not.
        warmupMs: 2_000,
        durationMs: settings.maxDurationMs,
        prime: false,
        thresholds: [],
        seed: settings.seed + settings.repeat,
        progress,
        label,
        signal,
      })
      run.saturated.set(mode, summary)
      writeJson(join(run.outDir, `${mode}-max.json`), summary)
      if (summary.errors > 0) run.failed = true
      progress.log(
        `${label}${Math.round(summary.rps).toLocaleString('en-US')} req/s, p99 ${summary.latency.all.p99_ms} ms, ${summary.errors} errors`,
      )
    })
  }
}

/** Stops every stack and removes their data. */
export async function stopStacks(run: Comparison): Promise<void> {
  const { workDir, stackEnv, logFile } = run
  run.progress.log('Stopping the stacks')
  for (const { dataDir, rootDir, stack } of run.stacks.values()) {
    // A paused process would hold SIGTERM pending and never drain.
    if (stack) await resumeStack(stack, 5_000).catch(() => {})
    await stackDown(dataDir, stackEnv, logFile, rootDir).catch(() => {})
  }
  rmSync(workDir, { recursive: true, force: true })
}
