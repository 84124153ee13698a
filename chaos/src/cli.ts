/**
 * `pnpm chaos`: faults under load on throw-away stacks, checked against the guarantees; and
 * `pnpm chaos --soak 10m`. Run with `tsx chaos/src/cli.ts [options]`; see `--help`.
 */
import { join, relative } from 'node:path'
import { ensureBuilt } from '@strata/stack/build'
import { abortOnInterrupt } from '@strata/stack/cli-support'
import { REPO_ROOT } from '@strata/stack/config'
import type { Reporter } from '@strata/stack/reporter'
import { type ChaosOptions, HELP, parseChaosArgs, UsageError } from './options.js'
import { Progress } from './progress.js'

async function main(signal: AbortSignal): Promise<number> {
  const options = parseChaosArgs(process.argv.slice(2))
  if (options.help) {
    console.log(HELP)
    return 0
  }
  const progress = new Progress()
  const reporter: Reporter = {
    step: (message) => progress.log(message),
    info: (message) => progress.log(`  ${message}`),
    warn: (message) => progress.log(`! ${message}`),
  }
  ensureBuilt(REPO_ROOT, reporter, { api: true })
  // Imported only now: the stack uses @strata/test-servers, whose dist/ the build above makes.
  return options.soakMs === undefined
    ? runFaults(options, progress, signal)
    : runSoakCommand(options, options.soakMs, progress, signal)
}

/** The command as typed, for the reports. */
const commandLine = () => ['pnpm chaos', ...process.argv.slice(2)].join(' ')

async function runFaults(
  options: ChaosOptions,
  progress: Progress,
  signal: AbortSignal,
): Promise<number> {
  const { FAULTS } = await import('./faults.js')
  const { runFault } = await import('./run-fault.js')
  const report = await import('./report.js')
  const { DEFAULT_WORKLOAD } = await import('./workload.js')
  const results = []
  const started = performance.now()
  const name = report.runName()
  const evidenceDir = join(report.RESULTS_DIR, name)
  for (const [i, name] of options.faults.entries()) {
    const result = await runFault(FAULTS[name], {
      redis: options.redis,
      phaseMs: options.phaseMs,
      holdMs: options.holdMs,
      latencyMs: options.latencyMs,
      stalenessBoundMs: options.stalenessBoundMs,
      workload: { ...DEFAULT_WORKLOAD, rate: options.rate, seed: options.seed },
      progress,
      signal,
      label: `[${i + 1}/${options.faults.length}]`,
      evidenceDir,
    })
    progress.log(
      `[${i + 1}/${options.faults.length}] ${name}: ${result.passed ? 'pass' : `FAIL — ${result.failures.join('; ')}`}`,
    )
    results.push(result)
  }
  const table = report.textTable(report.faultTable(results))
  console.log(`\n${table}\n`)
  const failed = results.filter((result) => !result.passed)
  for (const result of failed) console.log(`${result.fault}: ${result.failures.join('; ')}`)
  const { dir, latest } = report.saveResults(
    name,
    {
      'results.json': `${JSON.stringify({ command: commandLine(), machine: report.machine(), options, results }, null, 2)}\n`,
      'results.md': report.faultMarkdown(results, commandLine()),
    },
    ['results.json', 'results.md'],
  )
  console.log(
    `${results.length} faults in ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
      `results in ${relative(process.cwd(), dir)} (and ${relative(process.cwd(), latest)})`,
  )
  return failed.length === 0 ? 0 : 1
}

async function runSoakCommand(
  options: ChaosOptions,
  soakMs: number,
  progress: Progress,
  signal: AbortSignal,
): Promise<number> {
  const { runSoak } = await import('./soak.js')
  const report = await import('./report.js')
  const result = await runSoak({
    redis: options.redis,
    durationMs: soakMs,
    rate: options.rate,
    seed: options.seed,
    stalenessBoundMs: options.stalenessBoundMs,
    progress,
    signal,
  })
  // Interrupted: the figures cover less than was asked for; keep no results.
  if (signal.aborted) return 130
  console.log(`\n${report.textTable(report.soakTable(result))}\n`)
  console.log(
    `${result.requests} requests at ${result.rate}/s over ${(result.durationMs / 1000).toFixed(0)} s ` +
      `(warm-up ${(result.warmupMs / 1000).toFixed(0)} s): ${result.failedReads} failed reads, ` +
      `${result.unackedWrites} unacknowledged writes, ${result.check.totalViolations} checker violations; ` +
      `read p50 ${result.readLatency.p50.toFixed(2)} ms, p99 ${result.readLatency.p99.toFixed(2)} ms`,
  )
  for (const failure of result.failures) console.log(`FAIL: ${failure}`)
  const { dir } = report.saveResults(
    `${report.runName()}-soak`,
    {
      'soak.json': `${JSON.stringify({ command: commandLine(), machine: report.machine(), result }, null, 2)}\n`,
      'soak.md': report.soakMarkdown(result, commandLine()),
    },
    ['soak.json', 'soak.md'],
  )
  console.log(`results in ${relative(process.cwd(), dir)}`)
  return result.passed ? 0 : 1
}

const interrupted = abortOnInterrupt('stopping the stack')

main(interrupted).then(
  (code) => {
    process.exitCode = interrupted.aborted ? 130 : code
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`chaos: ${error.message}`)
      process.exitCode = 2
      return
    }
    if (interrupted.aborted) {
      process.exitCode = 130
      return
    }
    console.error('chaos: failed')
    console.error(error)
    process.exitCode = 1
  },
)
