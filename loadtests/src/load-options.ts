import { RUN_DEFAULTS } from '../scenarios/params.js'
import type { Scenario } from './scenario.js'

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

/** Fills the documented defaults. */
export function loadOptions(
  options: Pick<LoadOptions, 'target' | 'scenario'> & Partial<LoadOptions>,
): LoadOptions {
  const resolved: LoadOptions = {
    vus: RUN_DEFAULTS.vus,
    warmupMs: RUN_DEFAULTS.warmupSeconds * 1000,
    durationMs: RUN_DEFAULTS.durationSeconds * 1000,
    seed: 1,
    requestTimeoutMs: RUN_DEFAULTS.requestTimeoutSeconds * 1000,
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
