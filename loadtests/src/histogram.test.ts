import { describe, expect, it } from 'vitest'
import { Histogram } from './histogram.js'
import { seededRandom } from './random.js'

/** The exact percentile of sorted values, by the same definition (nearest rank). */
const exact = (sorted: number[], p: number) =>
  sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number

describe('Histogram', () => {
  it('reports every percentile within 1% of the exact value over a wide range', () => {
    const random = seededRandom(7)
    const values: number[] = []
    const h = new Histogram()
    for (let i = 0; i < 50_000; i++) {
      // Log-uniform from 1 µs to 10 s, like latencies.
      const v = Math.round(10 ** (random() * 7))
      values.push(v)
      h.record(v)
    }
    values.sort((a, b) => a - b)
    for (const p of [1, 10, 50, 90, 95, 99, 99.9]) {
      const want = exact(values, p)
      expect(Math.abs(h.percentile(p) - want) / want).toBeLessThan(0.01)
    }
    expect(h.percentile(100)).toBe(values.at(-1))
    expect(h.summary().min).toBe(values[0])
  })

  it('counts small values exactly', () => {
    const h = new Histogram()
    for (let v = 0; v < 200; v++) h.record(v)
    expect(h.percentile(50)).toBe(99)
    expect(h.summary().mean).toBeCloseTo(99.5)
  })

  it('merges as if every value had been recorded in one histogram', () => {
    const a = new Histogram()
    const b = new Histogram()
    const both = new Histogram()
    for (let v = 1; v <= 10_000; v++) {
      ;(v % 3 ? a : b).record(v * 7)
      both.record(v * 7)
    }
    a.merge(b)
    expect(a.summary()).toEqual(both.summary())
  })

  it('clamps negatives to 0 and huge values to the top bucket', () => {
    const h = new Histogram()
    h.record(-5)
    h.record(1e12)
    expect(h.summary().min).toBe(0)
    expect(h.summary().max).toBe(0x7fff_ffff)
    expect(h.count).toBe(2)
  })

  it('returns zeros when empty', () => {
    expect(new Histogram().summary()).toEqual({
      count: 0,
      min: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p95: 0,
      p99: 0,
      max: 0,
    })
  })

  it('counts the values above a threshold, to within a bucket', () => {
    const h = new Histogram()
    for (let v = 1; v <= 10_000; v++) h.record(v)
    expect(h.countAbove(0)).toBe(10_000)
    expect(h.countAbove(10_000)).toBe(0)
    // 9,900 is in a bucket 64 wide (9,856–9,919): the values above that bucket are 9,920–10,000.
    expect(h.countAbove(9_900)).toBe(81)
    expect(h.countAbove(h.percentile(99))).toBeLessThanOrEqual(100)
  })
})
