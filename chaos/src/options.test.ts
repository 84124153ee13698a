import { durationOf as duration } from '@strata/stack/options'
import { describe, expect, it } from 'vitest'
import { CLUSTER_ONLY, FAULT_NAMES } from './fault.js'
import { parseChaosArgs, UsageError } from './options.js'

describe('duration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['1.5', 1_500],
  ])('reads %s as %i ms', (text, ms) => {
    expect(duration('--x', text)).toBe(ms)
  })

  it('names the option and the bad value', () => {
    expect(() => duration('--hold', '5 parsecs')).toThrow(UsageError)
    expect(() => duration('--hold', '5 parsecs')).toThrow('--hold: not a duration: "5 parsecs"')
    expect(() => duration('--hold', '')).toThrow('--hold')
  })
})

describe('parseChaosArgs', () => {
  it('runs every fault in catalogue order by default, with the documented defaults', () => {
    expect(parseChaosArgs([])).toMatchObject({
      redis: 'single',
      faults: FAULT_NAMES.filter((name) => !CLUSTER_ONLY.includes(name)),
      phaseMs: 10_000,
      holdMs: 5_000,
      rate: 200,
      latencyMs: 25,
      stalenessBoundMs: 100,
      soakMs: undefined,
    })
  })

  it('keeps the catalogue order whatever the order of --fault', () => {
    const options = parseChaosArgs(['--fault', 'replica-kill', '--fault', 'redis-kill'])
    expect(options.faults).toEqual(['redis-kill', 'replica-kill'])
  })

  it('raises the default rate for a soak', () => {
    expect(parseChaosArgs(['--soak', '10m'])).toMatchObject({ soakMs: 600_000, rate: 400 })
  })

  it('refuses unknown faults and options with a message naming them', () => {
    expect(() => parseChaosArgs(['--fault', 'meteor'])).toThrow('unknown fault "meteor"')
    expect(() => parseChaosArgs(['--rate', '0'])).toThrow('--rate: expected a positive number')
    expect(() => parseChaosArgs(['--color'])).toThrow(UsageError)
    expect(() => parseChaosArgs(['--seed', '1.5'])).toThrow('--seed: expected a whole number')
  })

  it('on a Redis Cluster, runs the cluster faults and the faults that apply there', () => {
    const { faults, redis } = parseChaosArgs(['--redis', 'cluster'])
    expect(redis).toBe('cluster')
    expect(faults).toEqual(
      FAULT_NAMES.filter(
        (name) => !['subscriber-kill', 'redis-latency', 'redis-partition'].includes(name),
      ),
    )
    expect(faults.slice(-3)).toEqual(['master-failover', 'slot-migration', 'shard-subscriber-kill'])
  })

  it('refuses a fault the Redis in use does not have, saying why', () => {
    expect(() => parseChaosArgs(['--redis', 'cluster', '--fault', 'redis-latency'])).toThrow(
      '--fault redis-latency does not run on a Redis Cluster: its TCP proxy',
    )
    expect(() => parseChaosArgs(['--fault', 'master-failover'])).toThrow(
      '--fault master-failover needs a Redis Cluster: add --redis cluster',
    )
    expect(() => parseChaosArgs(['--redis', 'sentinel'])).toThrow(
      '--redis: expected single or cluster, not "sentinel"',
    )
  })
})
