import type { Random } from './random.js'

/**
 * Draws ranks 0..n-1 with P(rank r) ∝ 1 / (r + 1)^s: rank 0 is the hottest key.
 * The cumulative distribution is computed once (8 bytes per key); each draw is a binary search.
 * Instances are immutable and can be shared by every virtual user.
 *
 * @example
 * const zipf = new Zipf(100_000, 1.1)
 * const rank = zipf.sample(seededRandom(1))
 */
export class Zipf {
  readonly n: number
  readonly s: number
  readonly #cdf: Float64Array

  constructor(n: number, s: number) {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`Zipf: n must be a positive integer (got ${n})`)
    if (!(s >= 0) || !Number.isFinite(s)) throw new RangeError(`Zipf: s must be ≥ 0 (got ${s})`)
    this.n = n
    this.s = s
    const cdf = new Float64Array(n)
    let sum = 0
    for (let r = 0; r < n; r++) {
      sum += (r + 1) ** -s
      cdf[r] = sum
    }
    for (let r = 0; r < n; r++) cdf[r] = (cdf[r] as number) / sum
    cdf[n - 1] = 1
    this.#cdf = cdf
  }

  /** The probability of rank `r`. */
  probability(r: number): number {
    const cdf = this.#cdf
    return (cdf[r] ?? 0) - (r === 0 ? 0 : (cdf[r - 1] ?? 0))
  }

  /** The share of draws that fall on ranks 0..k-1 (the best any cache of k entries can do). */
  headMass(k: number): number {
    if (k <= 0) return 0
    return this.#cdf[Math.min(k, this.n) - 1] ?? 1
  }

  /** One rank. */
  sample(random: Random): number {
    const u = random()
    const cdf = this.#cdf
    let lo = 0
    let hi = this.n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((cdf[mid] as number) <= u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
