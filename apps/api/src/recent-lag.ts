/** What the cluster view shows of a replica's invalidation lag: recent, in milliseconds. */
export interface RecentLagFields {
  /** Median lag of the invalidations and clears this replica heard recently; null when none. */
  invalidation_lag_p50_ms: number | null
  /** Largest of them; null when none. */
  invalidation_lag_max_ms: number | null
}

/**
 * The last `capacity` invalidation lags this replica observed (the same figures as the
 * `strata_invalidation_lag_seconds` histogram), of which those heard in the last `windowMs`
 * are summarised. A histogram says how lag was distributed since start; the dashboard wants
 * "now". Memory is fixed (two typed arrays), and recording is two stores: it runs on the bus
 * receive path, once per message heard, never on a read.
 */
export class RecentLag {
  readonly #at: Float64Array
  readonly #ms: Float64Array
  #next = 0
  #filled = 0

  constructor(
    readonly windowMs = 10_000,
    readonly capacity = 1_024,
  ) {
    this.#at = new Float64Array(capacity)
    this.#ms = new Float64Array(capacity)
  }

  /** Records one lag, in seconds as cache-core reports it. */
  observe(seconds: number, now = performance.now()): void {
    this.#at[this.#next] = now
    this.#ms[this.#next] = seconds * 1000
    this.#next = (this.#next + 1) % this.capacity
    this.#filled = Math.min(this.#filled + 1, this.capacity)
  }

  /** Median and largest lag of the window, rounded to 0.01 ms. */
  fields(now = performance.now()): RecentLagFields {
    const recent: number[] = []
    for (let i = 0; i < this.#filled; i++) {
      if (now - (this.#at[i] as number) <= this.windowMs) recent.push(this.#ms[i] as number)
    }
    if (recent.length === 0) return { invalidation_lag_p50_ms: null, invalidation_lag_max_ms: null }
    recent.sort((a, b) => a - b)
    const round = (ms: number) => Math.round(ms * 100) / 100
    return {
      invalidation_lag_p50_ms: round(recent[Math.floor((recent.length - 1) / 2)] as number),
      invalidation_lag_max_ms: round(recent[recent.length - 1] as number),
    }
  }
}
