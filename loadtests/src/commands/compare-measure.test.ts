import { describe, expect, it } from 'vitest'
import type { ModeRow } from '../report.js'
import { medianRow, redisCommandsPerRead } from './compare-measure.js'

/** A row whose every figure is `n` (errors and drops 1 each). */
const rowOf = (n: number, nullable: number | null = n): ModeRow => ({
  mode: 'multi',
  cache_mode: 'multi',
  lb: 'round-robin',
  rps: 0,
  offered_rps: 100,
  p50_ms: n,
  p95_ms: n,
  p99_ms: n,
  saturated_p99_ms: 0,
  errors: 1,
  dropped: 1,
  l1_hit_rate: n,
  l2_hit_rate: n,
  combined_hit_rate: n,
  db_reads_per_s: n,
  redis_cmds_per_req: nullable,
  redis_cmds_per_read: nullable,
  read_p99_ms: n,
  write_p50_ms: n,
  write_p99_ms: n,
  p99_tail: { write: n, L1: n, L2: n, DB: n },
  requests: 10,
  reads: 9,
  writes: 1,
  duration_s: 3,
  served: { L1: n, L2: n, DB: n },
  cpu_us_per_req: { replica: n, redis: n, postgres: n, nginx: n },
})

describe('medianRow', () => {
  it('returns a single run as it is', () => {
    const row = rowOf(1)
    expect(medianRow([row])).toBe(row)
  })

  it('takes the median of every figure and adds up the counts, keeping the key order', () => {
    const row = medianRow([rowOf(5), rowOf(1), rowOf(2), rowOf(100)])
    // Even count: the mean of the middle two (2 and 5).
    const want = { ...rowOf(3.5), errors: 4, dropped: 4, requests: 40, reads: 36, writes: 4 }
    expect(row).toEqual({
      ...want,
      duration_s: 12,
      rounds: [5, 1, 2, 100].map((n) => ({
        p99_ms: n,
        read_p99_ms: n,
        combined_hit_rate: n,
        l1_hit_rate: n,
      })),
    })
    expect(Object.keys(row)).toEqual([...Object.keys(rowOf(1)), 'rounds'])
    expect(Object.keys(row.served)).toEqual(['L1', 'L2', 'DB'])
  })

  it('rounds medians to 3 digits and leaves Redis figures null when a run has none', () => {
    const row = medianRow([rowOf(1 / 3, null), rowOf(1 / 3), rowOf(1)])
    expect(row.p99_ms).toBe(0.333)
    expect(row.cpu_us_per_req.nginx).toBe(0.333)
    expect(row.redis_cmds_per_req).toBeNull()
    expect(row.redis_cmds_per_read).toBeNull()
  })

  it('takes the median of the per-node Redis load and of propagation; null when a run has none', () => {
    const withNodes = (n: number, p99: number | null): ModeRow => ({
      ...rowOf(n),
      redis: 'cluster',
      redis_nodes: [{ node: 'a', commands_per_s: n, round_trips_per_s: n, share: 100 }],
      redis_imbalance: 1,
      propagation_p50_ms: p99,
      propagation_p99_ms: p99,
    })
    const row = medianRow([withNodes(1, 4), withNodes(3, 2), withNodes(2, 3)])
    expect(row.redis_nodes).toEqual([
      { node: 'a', commands_per_s: 2, round_trips_per_s: 2, share: 100 },
    ])
    expect(row.propagation_p99_ms).toBe(3)
    expect(row.redis_imbalance).toBe(1)
    expect(medianRow([withNodes(1, 4), withNodes(1, null)]).propagation_p99_ms).toBeNull()
  })
})

describe('redisCommandsPerRead', () => {
  // 1,000 reads, 420 of them L1 misses (a GET each), 20 loads (a lease and a set each), and 50
  // writes: 50 fences and 50 writer's fills.
  const server = { reads: 1000, invalidations_sent: 50, write_fills: 50 }
  const byCommand = { get: 420, evalsha: 20 * 2 + 50 + 50, publish: 0 }

  it('leaves the writes’ fences and fills out of the read path', () => {
    expect(redisCommandsPerRead(byCommand, server, 'multi')).toBe(0.46)
  })

  it('still counts every command a read sends beyond those', () => {
    const extra = { ...byCommand, get: 420 + 300, evalsha: byCommand.evalsha + 100 }
    expect(redisCommandsPerRead(extra, server, 'multi')).toBe(0.86)
  })

  it('counts the fills as reads’ when the replicas do not report them (an older revision)', () => {
    expect(redisCommandsPerRead(byCommand, { ...server, write_fills: 0 }, 'multi')).toBe(0.51)
  })

  it('is 0 without reads, and takes no fences off in mode l1', () => {
    expect(redisCommandsPerRead(byCommand, { ...server, reads: 0 }, 'multi')).toBe(0)
    expect(redisCommandsPerRead(byCommand, server, 'l1')).toBe(0.51)
  })
})
