import { describe, expect, it } from 'vitest'
import { readHeavy } from '../scenarios/read-heavy.js'
import { RANK_GROUPS } from './key-groups.js'
import { simulate } from './simulate.js'

describe('simulate (the ideal cluster)', () => {
  it('gives the L1 hit rates the design quotes for read-heavy: ~58% round robin, ~72% key affinity', () => {
    const rr = simulate({ scenario: readHeavy, lb: 'round-robin' })
    const affinity = simulate({ scenario: readHeavy, lb: 'key-affinity' })
    expect(rr.l1_hit_rate).toBeGreaterThan(56.5)
    expect(rr.l1_hit_rate).toBeLessThan(60)
    expect(affinity.l1_hit_rate).toBeGreaterThan(70.5)
    expect(affinity.l1_hit_rate).toBeLessThan(74)
    // With a primed L2, only the reads after a write miss both tiers: ~95.6%.
    expect(rr.combined_hit_rate).toBeGreaterThan(95)
    expect(rr.combined_hit_rate).toBeLessThan(96.5)
    expect(Object.keys(rr.by_group)).toEqual([...RANK_GROUPS])
  })

  it('starts cold without priming: first reads of the long tail miss', () => {
    const cold = simulate({ scenario: readHeavy, primed: false })
    expect(cold.combined_hit_rate).toBeLessThan(88)
  })
})
