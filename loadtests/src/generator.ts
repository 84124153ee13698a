import { HttpConnection, NetworkError } from './http-connection.js'
import { seededRandom } from './random.js'
import { keyOf, type Operation, type Scenario } from './scenario.js'
import { PhaseStats } from './stats.js'

/** How a run is driven. Times are milliseconds. */
export interface LoadOptions {
  /** Where requests go: nginx, the cluster's front door. */
  target: URL
  scenario: Scenario
  /** Virtual users: each owns one keep-alive connection and keeps one request in flight. @default 32 */
  vus: number
  /** Traffic before the measured window, left out of the summary (caches fill, JIT warms). @default 5_000 */
  warmupMs: number
  /** Length of the measured window. @default 30_000 */
  durationMs: number
  /** Seeds every user's key stream, so runs repeat. @default 1 */
  seed: number
  /** A request without a complete response after this long fails as `network_timeout`. @default 10_000 */
  requestTimeoutMs: number
  /** Stops early after this many requests (warm-up included). @default Infinity */
  maxRequests: number
  /**
   * Open loop: start this many requests per second, using the `vus` connections as a pool,
   * instead of each user sending its next request when the last is answered. Latencies are then
   * comparable between targets (same offered load); requests with no idle connection are
   * dropped and counted. @default undefined (closed loop)
   */
  rate?: number
  /** Called once when the measured window opens (compare snapshots the servers' counters then). */
  onMeasureStart?: () => void
  /** Every key the run writes (warm-up included) is added here, when given. */
  written?: Set<string>
  /** Called every second with live figures, for progress output. */
  onTick?: (tick: Tick) => void
  /** Aborting stops every user at once; the summary is marked interrupted. */
  signal?: AbortSignal
}

/** Live figures, once a second. */
export interface Tick {
  phase: 'warm-up' | 'measure'
  /** Milliseconds since the start of the run (warm-up included) and the run's planned length. */
  elapsedMs: number
  totalMs: number
  /** Requests completed in the last second. */
  rps: number
  /** Of the current phase so far. */
  requests: number
  errors: number
  combinedHitRate: number
}

/** What a run recorded: each phase apart, and the measured window's requests per second. */
export interface LoadResult {
  warmup: PhaseStats
  measure: PhaseStats
  series: number[]
  startedAt: Date
  aborted: boolean
}

/** Fills the documented defaults. */
export function loadOptions(
  options: Pick<LoadOptions, 'target' | 'scenario'> & Partial<LoadOptions>,
): LoadOptions {
  const resolved: LoadOptions = {
    vus: 32,
    warmupMs: 5_000,
    durationMs: 30_000,
    seed: 1,
    requestTimeoutMs: 10_000,
    maxRequests: Number.POSITIVE_INFINITY,
    ...options,
  }
  const positive = (name: string, value: number) => {
    if (!(value > 0 && Number.isFinite(value)))
      throw new RangeError(`${name} must be a positive number (got ${value})`)
  }
  if (!Number.isInteger(resolved.vus) || resolved.vus < 1 || resolved.vus > 10_000)
    throw new RangeError(`vus must be a whole number from 1 to 10000 (got ${resolved.vus})`)
  positive('durationMs', resolved.durationMs)
  positive('requestTimeoutMs', resolved.requestTimeoutMs)
  if (!(resolved.warmupMs >= 0))
    throw new RangeError(`warmupMs must be ≥ 0 (got ${resolved.warmupMs})`)
  if (resolved.rate !== undefined) positive('rate', resolved.rate)
  if (!(resolved.maxRequests > 0))
    throw new RangeError(`maxRequests must be > 0 (got ${resolved.maxRequests})`)
  return resolved
}

/** The request line and body of an operation. */
function requestOf(op: Operation): [method: string, path: string, body: string | undefined] {
  if (op.kind === 'read') return ['GET', `/read/${encodeURIComponent(op.key)}`, undefined]
  return ['POST', '/write', JSON.stringify({ key: op.key, value: op.value })]
}

/**
 * Runs a scenario: `vus` users, each on its own keep-alive connection, loop "next operation →
 * request → record" until the warm-up and the measured window have passed, then stop by
 * themselves. A request belongs to the phase in which it started.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { scenario, target } = options
  const warmup = new PhaseStats()
  const measure = new PhaseStats()
  const series: number[] = []
  const startedAt = new Date()
  const start = performance.now()
  const measureAt = start + options.warmupMs
  const endAt = measureAt + options.durationMs
  const expectNotFound = scenario.expectNotFound ?? false
  let issued = 0
  let stopped = false
  let aborted = false
  const connections: HttpConnection[] = []

  const stopAll = () => {
    stopped = true
    for (const connection of connections) connection.close()
  }
  const onAbort = () => {
    aborted = true
    stopAll()
  }
  options.signal?.addEventListener('abort', onAbort, { once: true })

  let measuring = options.warmupMs === 0
  if (measuring) options.onMeasureStart?.()
  const measureTimer = measuring
    ? undefined
    : setTimeout(() => {
        measuring = true
        options.onMeasureStart?.()
      }, options.warmupMs)

  // One timer for every connection's deadline: cheaper than a timer per request.
  const watchdog = setInterval(() => {
    const now = performance.now()
    for (const connection of connections) connection.checkDeadline(now)
  }, 100)
  // The hard stop: a run never outlives its planned length by more than one request timeout.
  const hardStop = setTimeout(stopAll, endAt - start + options.requestTimeoutMs + 1_000)

  let lastCount = 0
  const tick = setInterval(() => {
    const phase = measuring ? measure : warmup
    const done = warmup.requests + measure.requests
    const answered = phase.levels.L1 + phase.levels.L2 + phase.levels.DB
    options.onTick?.({
      phase: measuring ? 'measure' : 'warm-up',
      elapsedMs: performance.now() - start,
      totalMs: endAt - start,
      rps: done - lastCount,
      requests: phase.requests,
      errors: phase.errors,
      combinedHitRate: answered === 0 ? 0 : ((phase.levels.L1 + phase.levels.L2) / answered) * 100,
    })
    lastCount = done
  }, 1_000)

  const timeout = { timeoutMs: options.requestTimeoutMs }
  /** Sends one operation on a connection and records it in the phase it started in. */
  const execute = async (connection: HttpConnection, op: Operation): Promise<boolean> => {
    const started = performance.now()
    const [method, path, body] = requestOf(op)
    const phase = started < measureAt ? warmup : measure
    if (op.kind === 'write') options.written?.add(op.key)
    try {
      const result = await connection.request(method, path, body, timeout)
      const ended = performance.now()
      phase.recordResponse(
        op.kind,
        result,
        started,
        ended,
        expectNotFound,
        op.kind === 'read' ? op.group : undefined,
      )
      if (phase === measure) {
        const second = Math.floor((ended - measureAt) / 1000)
        series[second] = (series[second] ?? 0) + 1
      }
      return true
    } catch (error) {
      if (stopped) return false
      const ended = performance.now()
      const reason = error instanceof NetworkError ? error.reason : 'error'
      phase.recordFailure(op.kind, reason, (error as Error).message, started, ended)
      // Don't spin on a refused connection: a failing target gets at most ~100 tries/s per user.
      await new Promise((resolve) => setTimeout(resolve, 10))
      return false
    }
  }

  /** Closed loop: each user sends its next request as soon as the previous one is answered. */
  const user = async (vu: number) => {
    const connection = new HttpConnection(target)
    connections.push(connection)
    const next = scenario.createUser({ vu, random: seededRandom(options.seed, vu) })
    while (!stopped && performance.now() < endAt && issued < options.maxRequests) {
      issued++
      await execute(connection, next())
    }
    connection.close()
  }

  /**
   * Open loop: requests start at `rate` per second whatever the answers' pace, on the first idle
   * connection. When every connection is busy the request is dropped and counted (k6's
   * dropped_iterations): the target is slower than the offered load.
   */
  const arrivals = async (rate: number) => {
    const idle = Array.from({ length: options.vus }, () => new HttpConnection(target))
    connections.push(...idle)
    const next = scenario.createUser({ vu: 0, random: seededRandom(options.seed, 0) })
    let scheduled = 0
    let inFlight = 0
    await new Promise<void>((resolve) => {
      const finish = () => {
        if (inFlight === 0) {
          clearInterval(scheduler)
          resolve()
        }
      }
      const scheduler = setInterval(() => {
        const now = performance.now()
        if (stopped || now >= endAt || issued >= options.maxRequests) {
          finish()
          return
        }
        const due = Math.floor(((now - start) * rate) / 1000) - scheduled
        for (let i = 0; i < due; i++) {
          scheduled++
          const connection = idle.pop()
          if (!connection) {
            ;(now < measureAt ? warmup : measure).dropped++
            continue
          }
          issued++
          inFlight++
          void execute(connection, next()).finally(() => {
            inFlight--
            idle.push(connection)
            if (stopped || performance.now() >= endAt) finish()
          })
        }
      }, 1)
    })
    for (const connection of connections) connection.close()
  }

  try {
    if (options.rate !== undefined) await arrivals(options.rate)
    else await Promise.all(Array.from({ length: options.vus }, (_, vu) => user(vu)))
  } finally {
    clearTimeout(measureTimer)
    clearTimeout(hardStop)
    clearInterval(watchdog)
    clearInterval(tick)
    options.signal?.removeEventListener('abort', onAbort)
  }
  // The last partial second would read as a dip in the throughput series; keep whole seconds.
  const whole = Math.floor(options.durationMs / 1000)
  const trimmed = Array.from({ length: Math.min(whole, series.length) }, (_, i) => series[i] ?? 0)
  return { warmup, measure, series: trimmed, startedAt, aborted }
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
