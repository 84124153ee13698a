import { describe, expect, it } from 'vitest'
import { clusterHeadline, redisNodesSection } from './report-redis.js'
import type { ComparisonReport, ModeRow } from './report-types.js'

const load = (port: number, commands: number, share: number) => ({
  node: `127.0.0.1:${port}`,
  commands_per_s: commands,
  round_trips_per_s: commands / 2,
  share,
})

/** The figures these sections read; the rest of a row does not matter here. */
const row = (mode: string, figures: Partial<ModeRow>): ModeRow =>
  ({ mode, p50_ms: 1, p99_ms: 5, rps: 1000, ...figures }) as ModeRow

const single = row('multi', {
  redis: 'single',
  redis_nodes: [load(23004, 900, 100)],
  redis_imbalance: 1,
  propagation_p50_ms: 0.2,
  propagation_p99_ms: 1.5,
})
const cluster = row('multi-cluster', {
  redis: 'cluster',
  p99_ms: 6,
  redis_nodes: [load(21104, 300, 30), load(21105, 400, 40), load(21106, 300, 30)],
  redis_imbalance: 1.2,
  propagation_p50_ms: 0.3,
  propagation_p99_ms: 2,
})
const none = row('none', { redis: 'single', redis_nodes: null, propagation_p99_ms: null })

const report = (rows: ModeRow[]) => ({ rows, settings: { rate: 1000 } }) as ComparisonReport

describe('the Redis per-node section', () => {
  it('shows each node’s commands/s and share, the imbalance and propagation per mode', () => {
    const text = redisNodesSection(report([single, cluster, none])).join('\n')
    expect(text).toContain(
      '| multi (L1+L2) | one server | :23004 900 (100.0%) | 900 | 1.00 | 0.20 | 1.50 |',
    )
    expect(text).toContain(
      '| multi on Redis Cluster | cluster, 3 masters | :21104 300 (30.0%) · :21105 400 (40.0%) · :21106 300 (30.0%) | 1,000 | 1.20 | 0.30 | 2.00 |',
    )
    expect(text).toContain('| none (DB only) | – | – | – | – | – | – |')
  })

  it('is left out for runs recorded before these figures existed', () => {
    expect(redisNodesSection(report([row('multi', {})]))).toEqual([])
  })

  it('compares the cluster with the single server in the headline, when both ran', () => {
    expect(clusterHeadline([single, cluster])).toEqual([
      expect.stringContaining('busiest master ran 1.20× the masters’ mean'),
    ])
    expect(clusterHeadline([single, cluster])[0]).toContain(
      'invalidation propagation p99 2.00 vs 1.50 ms',
    )
    expect(clusterHeadline([single])).toEqual([])
  })
})
