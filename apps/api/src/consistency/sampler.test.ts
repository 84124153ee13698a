import { deferred } from '@strata/cache-core/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { CurrentVersion } from '../db/current-versions.js'
import { ConsistencySampler, type ConsistencySamplerOptions } from './sampler.js'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
})
afterEach(() => {
  vi.useRealTimers()
})

/** PostgreSQL's answer for every key: version `version`, written long ago. */
const at = (version: number) => async (keys: readonly string[]) =>
  new Map<string, CurrentVersion>(keys.map((key) => [key, { version, changedAt: 0, dbNow: 1e12 }]))

function sampler(options: Partial<ConsistencySamplerOptions> = {}) {
  const verdicts: string[] = []
  const dropped: string[] = []
  const s = new ConsistencySampler({
    checksPerSecond: 20,
    sampleShare: 1,
    delayMs: 100,
    boundMs: 100,
    readCurrent: at(1),
    onVerdict: (verdict, level) => verdicts.push(`${verdict.result} ${level}`),
    onDropped: (reason) => dropped.push(reason),
    ...options,
  })
  return { s, verdicts, dropped }
}

/** Ticks `reads` times and counts the reads chosen. */
function chosen(s: ConsistencySampler, reads: number): number {
  let count = 0
  for (let i = 0; i < reads; i++) if (s.tick()) count++
  return count
}

describe('the consistency sampler', () => {
  it('chooses no read while off', () => {
    expect(chosen(sampler({ checksPerSecond: 0 }).s, 100_000)).toBe(0)
  })

  it('chooses about the configured share of reads', () => {
    expect(chosen(sampler({ sampleShare: 1 }).s, 1_000)).toBe(1_000)
    const tenth = chosen(sampler({ sampleShare: 0.1 }).s, 100_000)
    expect(tenth).toBeGreaterThan(9_000)
    expect(tenth).toBeLessThan(11_000)
  })

  it('checks each sample after the delay, in one query, and judges it', async () => {
    const readCurrent = vi.fn(at(1))
    const { s, verdicts } = sampler({ readCurrent })
    s.sample('a', 1, 'L1', performance.now())
    s.sample('b', 1, 'DB', performance.now())
    await vi.advanceTimersByTimeAsync(99)
    expect(readCurrent).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(readCurrent).toHaveBeenCalledTimes(1)
    expect(readCurrent).toHaveBeenCalledWith(['a', 'b'])
    expect(verdicts).toEqual(['consistent L1', 'consistent DB'])
    expect(s).toMatchObject({ checks: 2, stale: 0, dropped: 0 })
  })

  it('counts a read older than PostgreSQL by more than the bound as stale', async () => {
    const { s, verdicts } = sampler({ readCurrent: at(2) })
    s.sample('a', 1, 'L1', performance.now())
    await vi.advanceTimersByTimeAsync(100)
    expect(verdicts).toEqual(['stale L1'])
    expect(s).toMatchObject({ checks: 1, stale: 1 })
  })

  it('checks no more than checksPerSecond', async () => {
    const { s } = sampler({ checksPerSecond: 20 })
    for (let i = 0; i < 1_000; i++) s.sample(`k${i}`, 1, 'L1', performance.now())
    await vi.advanceTimersByTimeAsync(1_000)
    expect(s.checks).toBe(20)
    // A second later the bucket holds a second's worth again.
    for (let i = 0; i < 1_000; i++) s.sample(`k${i}`, 1, 'L1', performance.now())
    await vi.advanceTimersByTimeAsync(1_000)
    expect(s.checks).toBe(40)
  })

  it('holds a bounded queue while the database is slow, dropping and counting the rest', async () => {
    const held = deferred<Map<string, CurrentVersion>>()
    const readCurrent = vi.fn((_keys: readonly string[]) => held.promise)
    const { s, dropped } = sampler({ checksPerSecond: 10, delayMs: 0, readCurrent })
    s.sample('first', 1, 'L1', performance.now())
    // A second on, the token bucket is full again (10).
    await vi.advanceTimersByTimeAsync(1_000)
    expect(readCurrent).toHaveBeenCalledTimes(1)
    // One query at a time: while it hangs, samples queue up to 10 × (0 s + 2 s) = 20.
    for (let second = 0; second < 5; second++) {
      for (let i = 0; i < 10; i++) s.sample(`k${second}-${i}`, 1, 'L1', performance.now())
      await vi.advanceTimersByTimeAsync(1_000)
    }
    expect(readCurrent).toHaveBeenCalledTimes(1)
    expect(dropped.filter((reason) => reason === 'queue-full')).toHaveLength(30)
    held.resolve(new Map([['first', { version: 1, changedAt: 0, dbNow: 0 }]]))
    await vi.advanceTimersByTimeAsync(0)
    expect(readCurrent).toHaveBeenCalledTimes(2)
    expect(readCurrent.mock.calls[1]?.[0]).toHaveLength(20)
  })

  it('counts the samples of a failed check as dropped', async () => {
    const { s, dropped } = sampler({ readCurrent: () => Promise.reject(new Error('down')) })
    s.sample('a', 1, 'L1', performance.now())
    s.sample('b', 1, 'L1', performance.now())
    await vi.advanceTimersByTimeAsync(100)
    expect(dropped).toEqual(['check-failed', 'check-failed'])
    expect(s).toMatchObject({ checks: 0, dropped: 2 })
  })

  it('waits on stop for a check under way, and checks nothing after', async () => {
    const held = deferred<Map<string, CurrentVersion>>()
    const readCurrent = vi.fn((_keys: readonly string[]) => held.promise)
    const { s } = sampler({ delayMs: 0, readCurrent })
    s.sample('a', 1, 'L1', performance.now())
    await vi.advanceTimersByTimeAsync(0)
    let stopped = false
    const stopping = s.stop().then(() => {
      stopped = true
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(stopped).toBe(false)
    held.resolve(new Map())
    await stopping
    s.sample('b', 1, 'L1', performance.now())
    await vi.advanceTimersByTimeAsync(1_000)
    expect(readCurrent).toHaveBeenCalledTimes(1)
  })
})
