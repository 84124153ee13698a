import { describe, expect, it } from 'vitest'
import {
  DATASET_BYTES_CAP,
  parseReplicaCounts,
  parseSize,
  parseSizes,
  redisMaxMemoryFor,
  scalePlan,
  scenarioOfSize,
  sizeLabel,
} from './scale-plan.js'
import { makeValue } from './scenario.js'

describe('the scale run’s lists', () => {
  it('reads sizes in bytes and binary units', () => {
    expect(parseSizes('100,4k,64k,1m')).toEqual([100, 4096, 65_536, 1_048_576])
    expect(parseSize('64KiB')).toBe(65_536)
    expect(parseSize(' 2 MiB'.replace('2', '1'))).toBe(1_048_576)
    expect(parseSizes('4k, 4096,100')).toEqual([4096, 100])
  })
  it('refuses what is not a size, or what the API would refuse', () => {
    for (const bad of ['', 'x', '4q', '2m', '1.5k', '8'])
      expect(() => parseSizes(bad)).toThrow(RangeError)
  })
  it('reads replica counts', () => {
    expect(parseReplicaCounts('1,2,3,4')).toEqual([1, 2, 3, 4])
    expect(parseReplicaCounts('3,3,1')).toEqual([3, 1])
    for (const bad of ['', '0', '1.5', 'two', '17'])
      expect(() => parseReplicaCounts(bad)).toThrow(RangeError)
  })
  it('names sizes', () => {
    expect([100, 4096, 65_536, 1_048_576, 1500].map(sizeLabel)).toEqual([
      '100 B',
      '4 KiB',
      '64 KiB',
      '1 MiB',
      '1500 B',
    ])
  })
})

describe('the data set of a size', () => {
  it('keeps read-heavy’s keys for 100 B and caps the bytes of larger values', () => {
    const small = scenarioOfSize(100)
    expect(small.dataset).toEqual({ prefix: 'rh:', keys: 100_000, valueBytes: 100 })
    const large = scenarioOfSize(1_048_576)
    expect(large.dataset).toEqual({ prefix: 'rh1MiB:', keys: 128, valueBytes: 1_048_576 })
    expect(large.dataset.keys * large.dataset.valueBytes).toBeLessThanOrEqual(DATASET_BYTES_CAP)
    expect(scenarioOfSize(4096, 500).dataset.keys).toBe(500)
  })
  it('gives Redis room for every data set', () => {
    // 100k × 100 B and 128 MiB of 1 MiB values, half again, and the default 256 MB.
    const sets = [scenarioOfSize(100), scenarioOfSize(1_048_576)]
    expect(redisMaxMemoryFor(sets)).toBe(
      `${Math.ceil(((10_000_000 + 128 * 1_048_576) * 1.5) / 1_048_576) + 256}mb`,
    )
  })
  it('writes values of the data set’s size, also above the shared padding', () => {
    const scenario = scenarioOfSize(65_536)
    const next = scenario.createUser({ vu: 0, random: () => 0.001 })
    const op = next()
    expect(op.kind).toBe('write')
    expect(op.kind === 'write' && op.value.length).toBe(65_536)
    expect(makeValue('tag:', 1_048_576)).toHaveLength(1_048_576)
  })
})

describe('the plan', () => {
  it('measures every point once a round, rotating the stacks and keeping a stack’s sizes together', () => {
    const plan = scalePlan([1, 2], [100, 4096], 2).map(
      ({ round, point }) => `${round}:${point.replicas}:${point.bytes}`,
    )
    expect(plan).toEqual([
      '0:1:100',
      '0:1:4096',
      '0:2:100',
      '0:2:4096',
      '1:2:100',
      '1:2:4096',
      '1:1:100',
      '1:1:4096',
    ])
  })
})
