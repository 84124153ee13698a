import { describe, expect, it } from 'vitest'
import { seededRandom } from './random.js'
import { Zipf } from './zipf.js'

describe('Zipf', () => {
  it('draws ranks with P(r) ∝ 1/(r+1)^s', () => {
    const zipf = new Zipf(100_000, 1.1)
    // H(100k, 1.1) = 7.4222…: rank 1 takes 13.47% of the draws.
    expect(zipf.probability(0)).toBeCloseTo(0.13473, 4)
    expect(zipf.probability(9) / zipf.probability(0)).toBeCloseTo(10 ** -1.1, 10)
    const random = seededRandom(3)
    const counts = new Map<number, number>()
    const n = 400_000
    for (let i = 0; i < n; i++) {
      const r = zipf.sample(random)
      counts.set(r, (counts.get(r) ?? 0) + 1)
    }
    for (const r of [0, 1, 9, 99]) {
      const expected = zipf.probability(r) * n
      // Four standard deviations of a binomial count.
      expect(Math.abs((counts.get(r) ?? 0) - expected)).toBeLessThan(4 * Math.sqrt(expected))
    }
    let head = 0
    for (const [r, c] of counts) if (r < 1000) head += c
    expect(head / n).toBeCloseTo(zipf.headMass(1000), 2)
  })

  it('stays within 0..n-1 and is uniform with s = 0', () => {
    const zipf = new Zipf(10, 0)
    const random = seededRandom(1)
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 100_000; i++) {
      const r = zipf.sample(random)
      counts[r] = (counts[r] ?? 0) + 1
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400)
  })

  it('refuses a bad size or exponent', () => {
    expect(() => new Zipf(0, 1)).toThrow(RangeError)
    expect(() => new Zipf(10, -1)).toThrow(RangeError)
  })
})

describe('seededRandom', () => {
  it('repeats a stream for the same seed and stream, and differs otherwise', () => {
    const a = seededRandom(42, 1)
    const b = seededRandom(42, 1)
    const c = seededRandom(42, 2)
    const xs = Array.from({ length: 5 }, () => a())
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs)
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true)
  })
})
