import { describe, expect, it } from 'vitest'
import { DEFAULT_FUZZ_SEED, parseFuzzEnv } from './env.js'

describe('fuzz settings', () => {
  it('uses the fixed seed and each property’s own run count by default', () => {
    expect(parseFuzzEnv({})).toEqual({
      seed: DEFAULT_FUZZ_SEED,
      randomSeed: false,
      runs: undefined,
    })
  })

  it('replays a given seed with a given run count', () => {
    expect(parseFuzzEnv({ FUZZ_SEED: '42', FUZZ_RUNS: '5000' })).toEqual({
      seed: 42,
      randomSeed: false,
      runs: 5000,
    })
  })

  it('draws a seed for FUZZ_SEED=random', () => {
    const config = parseFuzzEnv({ FUZZ_SEED: 'random' })
    expect(config.randomSeed).toBe(true)
    expect(Number.isSafeInteger(config.seed)).toBe(true)
  })

  it('refuses settings it cannot use, naming the variable', () => {
    expect(() => parseFuzzEnv({ FUZZ_SEED: 'abc' })).toThrow(/FUZZ_SEED/)
    expect(() => parseFuzzEnv({ FUZZ_RUNS: '0' })).toThrow(/FUZZ_RUNS/)
  })
})
