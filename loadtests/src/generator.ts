import { HttpConnection } from './http-connection.js'
import type { LoadOptions } from './load-options.js'
import { LoadRun } from './load-run.js'
import { keyOf, type Scenario } from './scenario.js'
import type { PhaseStats } from './stats.js'

/** What a run recorded: each phase apart, and the measured window's requests per second. */
export interface LoadResult {
  warmup: PhaseStats
  measure: PhaseStats
  series: number[]
  startedAt: Date
  aborted: boolean
}

/**
 * Runs a scenario: `vus` users, each on its own keep-alive connection, loop "next operation →
 * request → record" until the warm-up and the measured window have passed, then stop by
 * themselves. A request belongs to the phase in which it started.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const run = new LoadRun(options)
  const onAbort = () => {
    run.aborted = true
    run.stopAll()
  }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  const stopTimers = startTimers(run, options)
  try {
    if (options.rate !== undefined) await run.openLoop(options.rate)
    else await run.closedLoop()
  } finally {
    stopTimers()
    options.signal?.removeEventListener('abort', onAbort)
  }
  // The last partial second would read as a dip in the throughput series; keep whole seconds.
  const whole = Math.floor(options.durationMs / 1000)
  const { series } = run
  const trimmed = Array.from({ length: Math.min(whole, series.length) }, (_, i) => series[i] ?? 0)
  return {
    warmup: run.warmup,
    measure: run.measure,
    series: trimmed,
    startedAt: run.startedAt,
    aborted: run.aborted,
  }
}

/**
 * The run's clockwork: the measured window's opening, request deadlines, the hard stop and the
 * progress ticks. Returns what stops them all.
 */
function startTimers(run: LoadRun, options: LoadOptions): () => void {
  if (run.measuring) options.onMeasureStart?.()
  const measureTimer = run.measuring
    ? undefined
    : setTimeout(() => {
        run.measuring = true
        options.onMeasureStart?.()
      }, options.warmupMs)
  // One timer for every connection's deadline: cheaper than a timer per request.
  const watchdog = setInterval(() => {
    const now = performance.now()
    for (const connection of run.connections) connection.checkDeadline(now)
  }, 100)
  // The hard stop: a run never outlives its planned length by more than one request timeout.
  const hardStop = setTimeout(
    () => run.stopAll(),
    run.endAt - run.start + options.requestTimeoutMs + 1_000,
  )
  let lastCount = 0
  const tick = setInterval(() => {
    const phase = run.measuring ? run.measure : run.warmup
    const done = run.warmup.requests + run.measure.requests
    const answered = phase.levels.L1 + phase.levels.L2 + phase.levels.DB
    options.onTick?.({
      phase: run.measuring ? 'measure' : 'warm-up',
      elapsedMs: performance.now() - run.start,
      totalMs: run.endAt - run.start,
      rps: done - lastCount,
      requests: phase.requests,
      errors: phase.errors,
      combinedHitRate: answered === 0 ? 0 : ((phase.levels.L1 + phase.levels.L2) / answered) * 100,
    })
    lastCount = done
  }, 1_000)
  return () => {
    clearTimeout(measureTimer)
    clearTimeout(hardStop)
    clearInterval(watchdog)
    clearInterval(tick)
  }
}

/** Progress of a prime sweep. */
export interface PrimeTick {
  done: number
  total: number
  rps: number
}

/**
 * Reads every key of the scenario's data set once (or only `keys`), `concurrency` at a time, so
 * that L2 holds the working set as it would in a cluster that has been serving this traffic for
 * minutes.
 */
export async function primeKeys(
  target: URL,
  scenario: Scenario,
  options: {
    concurrency?: number
    timeoutMs?: number
    /** These keys instead of the whole data set (e.g. the keys written since the last prime). */
    keys?: readonly string[]
    onTick?: (tick: PrimeTick) => void
    signal?: AbortSignal
  } = {},
): Promise<{ keys: number; seconds: number; errors: number }> {
  const { keys } = options
  const total = keys ? keys.length : scenario.dataset.keys
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 64, total))
  const started = performance.now()
  let nextIndex = 0
  let done = 0
  let errors = 0
  let lastDone = 0
  const tick = setInterval(() => {
    options.onTick?.({ done, total, rps: done - lastDone })
    lastDone = done
  }, 1_000)
  const worker = async () => {
    const connection = new HttpConnection(target)
    try {
      while (nextIndex < total && !options.signal?.aborted) {
        const index = nextIndex++
        const key = keys ? (keys[index] as string) : keyOf(scenario.dataset, index)
        try {
          const result = await connection.request(
            'GET',
            `/read/${encodeURIComponent(key)}`,
            undefined,
            {
              timeoutMs: options.timeoutMs ?? 10_000,
            },
          )
          if (result.status !== 200) errors++
        } catch {
          errors++
        }
        done++
      }
    } finally {
      connection.close()
    }
  }
  try {
    await Promise.all(Array.from({ length: concurrency }, () => worker()))
  } finally {
    clearInterval(tick)
  }
  return { keys: done, seconds: (performance.now() - started) / 1000, errors }
}
