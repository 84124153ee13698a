import { describe, expect, it } from 'vitest'
import { COUNTERS, type Counters, counterDelta } from '../probes.js'
import { baselineRatios, hotKeySection, pathsSection } from '../report-costs.js'
import type { ComparisonReport, ModeRow } from '../report-types.js'
import { dbLoadsPerWrite } from './compare-measure.js'
import { PATH_KEYS, pathScript, pathShare } from './compare-paths.js'

const counters = (values: Partial<Counters>): Counters =>
  ({ ...Object.fromEntries(COUNTERS.map((name) => [name, 0])), ...values }) as Counters

const row = (mode: string, figures: Partial<ModeRow>): ModeRow =>
  ({
    mode,
    cache_mode: 'multi',
    rps: 1_000,
    p99_ms: 2,
    cpu_us_per_req: { replica: 100, redis: 0, postgres: 0, nginx: 0 },
    ...figures,
  }) as ModeRow

const report = (rows: ModeRow[]): ComparisonReport =>
  ({ rows, settings: { rate: 3000, replicas: 3 } }) as ComparisonReport

describe('db_loads_per_write', () => {
  it('is the replicas’ db_reads over the window, summed, over the writes', () => {
    // Three replicas' counters, summed as replicaCounters sums them, before and after.
    const before = counters({ db_reads: 10 + 20 + 30 })
    const after = counters({ db_reads: 41 + 53 + 60 })
    const loads = counterDelta(before, after).db_reads
    expect(loads).toBe(94)
    // 94 loads for 40 writes: 2.35 per write, most replicas reloading after each write.
    expect(dbLoadsPerWrite(loads, 40)).toBe(2.35)
    expect(dbLoadsPerWrite(1, 3)).toBe(0.333)
    expect(dbLoadsPerWrite(0, 40)).toBe(0)
  })

  it('is null when nothing was written', () => {
    expect(dbLoadsPerWrite(5, 0)).toBeNull()
  })

  it('goes to report.md with key #1’s combined hit rate', () => {
    const md = hotKeySection(
      report([row('multi', { db_loads_per_write: 1.04, hot_key_combined_hit_rate: 94.61 })]),
    ).join('\n')
    expect(md).toContain('| multi (L1+L2) | 1.04 | 94.6% | 2.00 |')
    expect(hotKeySection(report([row('multi', {})]))).toEqual([])
  })
})

describe('the baseline contender', () => {
  it('divides every mode’s figures by the baseline’s', () => {
    const rows = [
      row('multi', { rps: 3_000, p99_ms: 3, cpu_us_per_req: { replica: 90 } as never }),
      row('l2', { rps: 1_500, p99_ms: 6, cpu_us_per_req: { replica: 300 } as never }),
      row('baseline@abc1234', { revision: 'abc1234f', rps: 1_500, p99_ms: 4 }),
    ]
    expect(baselineRatios(rows)).toEqual({
      contender: 'baseline@abc1234',
      revision: 'abc1234f',
      ratios: {
        multi: { rps: 2, p99_ms: 0.75, cpu_us_per_req_replica: 0.9 },
        l2: { rps: 1, p99_ms: 1.5, cpu_us_per_req_replica: 3 },
      },
    })
    expect(baselineRatios(rows.slice(0, 2))).toBeUndefined()
  })
})

describe('per-path costs', () => {
  it('says how much of the reads the path’s tier answered', () => {
    const delta = counters({ reads: 1_000, l1_hits: 990, l2_hits: 8, db_reads: 2 })
    expect(pathShare('L1 hit', delta)).toBe(99)
    expect(pathShare('L2 hit', delta)).toBe(0.8)
    expect(pathShare('DB read', delta)).toBe(0.2)
    expect(pathShare('write', counters({}))).toBe(100)
    expect(pathShare('L1 hit', counters({}))).toBe(0)
  })

  it('makes wrk read, or write, one of the scenario’s first keys at random', () => {
    const dataset = { prefix: 'k:', keys: 100_000, valueBytes: 8 }
    const read = pathScript('L2 hit', dataset)
    expect(read).toContain(`local keys = ${PATH_KEYS}`)
    expect(read).toContain('wrk.format("GET", "/read/" .. prefix .. math.random(0, keys - 1))')
    const write = pathScript('write', dataset)
    expect(write).toContain('wrk.format("POST", "/write", headers,')
    expect(write).toContain('"value":"wwwwwwww"')
  })

  it('shows every path of every mode in report.md', () => {
    const cost = (path: string) => ({
      path,
      rps: 9_000,
      requests: 9_000,
      errors: 0,
      share: 99.5,
      cpu_us_per_req: { replica: 54, nginx: 74, redis: 1, postgres: 0 },
    })
    const md = pathsSection(
      report([row('multi', { paths: [cost('L1 hit'), cost('write')] }), row('l2', {})]),
    ).join('\n')
    expect(md).toContain('| multi (L1+L2) | L1 hit | 54.0 | 74.0 | 1.0 | 0.0 | 9,000 | 99.5% |')
    expect(md).toContain('| multi (L1+L2) | write |')
    expect(md).not.toContain('| l2')
  })
})
