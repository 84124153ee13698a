import { readOp, writeOp } from '@strata/testkit'
import { describe, expect, it } from 'vitest'
import { phaseStats, recoveryTime } from './measure.js'
import { KeySpace } from './workload.js'

const read = (fields: Parameters<typeof readOp>[0]) =>
  readOp({ key: 'chaos:w:0', version: 1, ...fields })
const write = (fields: Parameters<typeof writeOp>[0]) =>
  writeOp({ key: 'chaos:w:0', version: 2, ...fields })

describe('recoveryTime', () => {
  const replicas = ['replica-1', 'replica-2']

  it('waits for an L1 read on every replica and an acked write, all begun after the fault', () => {
    const history = {
      reads: [
        // Begun before the end of the fault: does not count.
        read({ start: 90, end: 101, replica: 'replica-2' }),
        read({ start: 100, end: 104, replica: 'replica-1' }),
        read({ start: 101, end: 103, replica: 'replica-2', cacheLevel: 'DB' }),
        read({ start: 105, end: 130, replica: 'replica-2' }),
      ],
      writes: [
        write({ start: 100, end: 102, outcome: 'refused', status: 503, version: undefined }),
        write({ start: 110, end: 120 }),
      ],
    }
    expect(recoveryTime(history, 100, replicas)).toBe(30)
  })

  it('is undefined when a replica never served from L1 again', () => {
    const history = {
      reads: [read({ start: 105, end: 106, replica: 'replica-1' })],
      writes: [write({ start: 110, end: 120 })],
    }
    expect(recoveryTime(history, 100, replicas)).toBeUndefined()
  })
})

describe('phaseStats', () => {
  it('assigns operations to the phase they began in and splits failed reads of cached keys', () => {
    const keys = new KeySpace({ writtenKeys: 1, readOnlyKeys: 1 })
    const history = {
      reads: [
        read({ start: 5, end: 50 }),
        read({ start: 10, end: 12, cacheLevel: 'L2' }),
        read({ start: 11, end: 13, cacheLevel: 'DB' }),
        read({
          key: 'chaos:r:0',
          start: 12,
          end: 13,
          status: 502,
          outcome: 'failed',
          code: 'UPSTREAM_UNAVAILABLE',
          cacheLevel: undefined,
        }),
        read({ start: 20, end: 21 }),
      ],
      writes: [
        write({ start: 10, end: 11 }),
        write({ start: 12, end: 14, outcome: 'refused', status: 503, code: 'CACHE_UNAVAILABLE' }),
      ],
    }
    const samples = [
      { at: 9, inFlight: 50 },
      { at: 10, inFlight: 3 },
      { at: 15, inFlight: 7 },
    ]
    const stats = phaseStats('during', history, samples, keys, 10, 20)
    expect(stats).toMatchObject({
      reads: 3,
      failedReads: 1,
      failedCachedReads: 1,
      failedReadCauses: { '502 UPSTREAM_UNAVAILABLE': 1 },
      hitRate: 50,
      l1Rate: 0,
      writes: { acked: 1, refused: 1, unknown: 0 },
      writeFailureCauses: { '503 CACHE_UNAVAILABLE': 1 },
      maxInFlight: 7,
    })
    expect(stats.maxInFlightPerSecond).toEqual([7])
  })
})
