import { formatDuration } from '@strata/stack/duration'
import { primeKeys, runLoad } from './generator.js'
import { loadOptions } from './load-options.js'
import { formatTick, type Progress, progressBar } from './progress.js'
import type { Scenario } from './scenario.js'
import { seedDataset } from './seed.js'
import { type LoadSummary, summarize } from './summary.js'
import type { Threshold } from './thresholds.js'

/** One scenario run end to end: seed, prime, warm up, measure, summarize. */
export interface ScenarioRunOptions {
  target: URL
  scenario: Scenario
  /** Seeds the data set here first; undefined skips seeding (the rows must exist). */
  databaseUrl: string | undefined
  vus: number
  warmupMs: number
  durationMs: number
  /** Read every key once before the warm-up when the scenario asks for it. @default true */
  prime: boolean
  thresholds: readonly Threshold[]
  seed: number
  /** Open loop at this many requests per second (see `LoadOptions.rate`). */
  rate?: number
  progress: Progress
  /** Printed before each progress line (the compare command puts the mode there). */
  label?: string
  onMeasureStart?: () => void
  /** Every key the run writes is added here, when given (see `LoadOptions.written`). */
  written?: Set<string>
  signal?: AbortSignal
}

/** Runs a scenario and returns its summary (thresholds checked; nothing written). */
export async function runScenario(options: ScenarioRunOptions): Promise<LoadSummary> {
  const { scenario, progress, target } = options
  const label = options.label ?? ''
  if (options.databaseUrl) {
    const seeded = await seedDataset(options.databaseUrl, scenario.dataset)
    progress.log(
      `${label}seeded ${scenario.dataset.keys.toLocaleString('en-US')} keys (${seeded.inserted.toLocaleString('en-US')} new) in ${seeded.seconds.toFixed(1)} s`,
    )
  }
  let prime: LoadSummary['prime']
  if (scenario.prime && options.prime) {
    prime = await primeKeys(target, scenario, {
      concurrency: Math.max(options.vus, 64),
      ...(options.signal ? { signal: options.signal } : {}),
      onTick: ({ done, total, rps }) =>
        progress.update(
          `${label}${progressBar(done / total, 20)} priming L2: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} keys, ${rps.toLocaleString('en-US')} reads/s`,
        ),
    })
    progress.log(
      `${label}primed ${prime.keys.toLocaleString('en-US')} keys in ${prime.seconds.toFixed(1)} s${prime.errors ? ` (${prime.errors} errors)` : ''}`,
    )
  }
  const load = loadOptions({
    target,
    scenario,
    // An open loop needs enough connections to ride out a 40 ms stall without dropping requests.
    vus:
      options.rate === undefined
        ? options.vus
        : Math.max(options.vus, Math.ceil(options.rate / 25)),
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    seed: options.seed,
    ...(options.rate !== undefined ? { rate: options.rate } : {}),
    onTick: (tick) => progress.update(formatTick(tick, label)),
    ...(options.onMeasureStart ? { onMeasureStart: options.onMeasureStart } : {}),
    ...(options.written ? { written: options.written } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  const shape =
    load.rate !== undefined
      ? `${load.rate.toLocaleString('en-US')} req/s offered (open loop, ${load.vus} connections)`
      : `${load.vus} VUs (closed loop)`
  progress.log(
    `${label}running ${scenario.name}: ${shape}, ${formatDuration(load.warmupMs)} warm-up + ${formatDuration(load.durationMs)} measured`,
  )
  const result = await runLoad(load)
  progress.clear()
  return summarize({
    scenario: scenario.name,
    target: target.origin,
    startedAt: result.startedAt,
    vus: load.vus,
    warmupMs: load.warmupMs,
    stats: result.measure,
    series: result.series,
    thresholds: options.thresholds,
    aborted: result.aborted,
    ...(prime ? { prime } : {}),
    ...(load.rate !== undefined ? { rate: load.rate } : {}),
  })
}
