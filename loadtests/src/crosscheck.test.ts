import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readHeavyWrkArgs, WRK_SCRIPT } from './commands/crosscheck.js'
import { crosscheck, medianFigures, wrkMixFigures } from './crosscheck.js'
import { findWrk, runWrk } from './wrk.js'
import { Zipf } from './zipf.js'

const figures = (rps: number, l1: number, l2: number, combined: number) => ({
  rps,
  l1_hit_rate: l1,
  l2_hit_rate: l2,
  combined_hit_rate: combined,
  write_share: 5,
})

describe('the cross-check’s arithmetic', () => {
  it('defines wrk’s hit rates as the summary does', () => {
    const f = wrkMixFigures(2000, {
      requests: 1000,
      l1: 570,
      l2: 380,
      db: 0,
      other: 0,
      no_level: 50,
      failed: 0,
    })
    // 950 reads: L1 60%, L2 380 of 380 misses, combined 100%; 50 writes of 1,000 requests.
    expect(f).toEqual({
      rps: 2000,
      l1_hit_rate: 60,
      l2_hit_rate: 100,
      combined_hit_rate: 100,
      write_share: 5,
    })
    const g = wrkMixFigures(10, {
      requests: 100,
      l1: 50,
      l2: 25,
      db: 25,
      other: 0,
      no_level: 0,
      failed: 0,
    })
    expect([g.l1_hit_rate, g.l2_hit_rate, g.combined_hit_rate]).toEqual([50, 50, 75])
  })
  it('passes within 10% of ours, either way, and fails beyond', () => {
    const ours = figures(1000, 60, 80, 92)
    expect(crosscheck(ours, figures(1099, 54.1, 88, 92)).every((l) => l.ok)).toBe(true)
    const lines = crosscheck(ours, figures(1101, 60, 71.9, 92))
    expect(lines.map((l) => [l.figure, l.ok])).toEqual([
      ['rps', false],
      ['l1_hit_rate', true],
      ['l2_hit_rate', false],
      ['combined_hit_rate', true],
    ])
    expect(lines[0]?.difference_pct).toBe(10.1)
  })
  it('takes the median of every figure', () => {
    const m = medianFigures([
      figures(1, 10, 20, 30),
      figures(3, 30, 40, 50),
      figures(2, 20, 30, 40),
    ])
    expect(m).toEqual(figures(2, 20, 30, 40))
  })
})

const wrk = findWrk()

// wrk's Lua Zipf sampler against zipf.ts: a server that counts the ranks it is asked for, and
// answers with a tier by rank, so the script's counts can be checked too.
describe.skipIf(!wrk)('the wrk script of the read-heavy mix', () => {
  const ranks: number[] = []
  const tiers = { L1: 0, L2: 0, DB: 0, writes: 0 }
  const server = createServer((req, res) => {
    const match = /^\/read\/rh%3A(\d+)$/.exec(req.url ?? '')
    if (req.method === 'POST' && req.url === '/write') {
      let body = ''
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString()
      })
      req.on('end', () => {
        const { key, value } = JSON.parse(body) as { key: string; value: string }
        ranks.push(Number(key.slice(3)))
        tiers.writes++
        res.writeHead(value.length === 100 ? 200 : 400).end('{}')
      })
      return
    }
    if (!match) return res.writeHead(400).end()
    const rank = Number(match[1])
    ranks.push(rank)
    const tier = rank < 10 ? 'L1' : rank < 1000 ? 'L2' : 'DB'
    tiers[tier]++
    res.writeHead(200, { 'X-Cache-Level': tier }).end('{}')
  })
  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)))
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('draws keys as zipf.ts does, writes 5% of 100-byte values and counts tiers as the server answered', async () => {
    const { port } = server.address() as AddressInfo
    const result = await runWrk(wrk as string, `http://127.0.0.1:${port}`, {
      threads: 2,
      connections: 4,
      durationS: 2,
      // Each thread also draws 200,000 ranks in init(): the sampler's test, whatever the pace of
      // the requests on a busy machine.
      script: { path: WRK_SCRIPT, args: [...readHeavyWrkArgs(), '200000'] },
    })
    const report = result.script_report as Record<string, number>
    const zipf = new Zipf(100_000, 1.1)
    const drawn = report.self_n as number
    expect(drawn).toBe(400_000)
    // ±0.5 points: over 400,000 draws, at least eight standard errors.
    expect(Math.abs((report.self_rank1 as number) / drawn - zipf.probability(0))).toBeLessThan(
      0.005,
    )
    expect(Math.abs((report.self_top10 as number) / drawn - zipf.headMass(10))).toBeLessThan(0.005)
    expect(Math.abs((report.self_top1000 as number) / drawn - zipf.headMass(1000))).toBeLessThan(
      0.005,
    )
    // The requests use that sampler: their keys' shares, over however many were sent (at least
    // a few hundred even on a loaded machine), within a wide margin.
    expect(ranks.length).toBeGreaterThan(200)
    const share = (test: (rank: number) => boolean) => ranks.filter(test).length / ranks.length
    expect(Math.abs(share((r) => r < 1000) - zipf.headMass(1000))).toBeLessThan(0.08)
    expect(Math.abs(tiers.writes / ranks.length - 0.05)).toBeLessThan(0.04)
    // Every answer the server sent was counted once, in its tier (the last few may be cut off
    // by wrk's stop).
    const counted = { L1: report.l1, L2: report.l2, DB: report.db, writes: report.no_level }
    for (const tier of ['L1', 'L2', 'DB', 'writes'] as const)
      expect(Math.abs((counted[tier] as number) - tiers[tier])).toBeLessThanOrEqual(
        Math.max(8, tiers[tier] * 0.01),
      )
    expect(report.failed).toBe(0)
  }, 60_000)
})
