import { describe, expect, it } from 'vitest'
import { RecentLag } from './recent-lag.js'

describe('RecentLag', () => {
  it('reports nothing before the first invalidation is heard', () => {
    expect(new RecentLag().fields(0)).toEqual({
      invalidation_lag_p50_ms: null,
      invalidation_lag_max_ms: null,
    })
  })

  it('gives the median and the largest lag of the window, in milliseconds', () => {
    const lag = new RecentLag(10_000)
    for (const seconds of [0.004, 0.001, 0.002, 0.1, 0.003]) lag.observe(seconds, 1_000)
    expect(lag.fields(2_000)).toEqual({ invalidation_lag_p50_ms: 3, invalidation_lag_max_ms: 100 })
  })

  it('forgets lags older than the window', () => {
    const lag = new RecentLag(10_000)
    lag.observe(5, 0)
    lag.observe(0.002, 9_000)
    expect(lag.fields(10_001)).toEqual({ invalidation_lag_p50_ms: 2, invalidation_lag_max_ms: 2 })
    expect(lag.fields(19_001).invalidation_lag_max_ms).toBeNull()
  })

  it('keeps the last `capacity` lags only: memory is fixed however many arrive', () => {
    const lag = new RecentLag(10_000, 4)
    lag.observe(9, 0)
    for (let i = 1; i <= 4; i++) lag.observe(i / 1000, i)
    expect(lag.fields(10).invalidation_lag_max_ms).toBe(4)
  })
})
