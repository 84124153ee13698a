import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readLoadtestEnv } from '../env.js'
import { RESULTS_DIR } from '../results.js'
import { scaleCommand } from './scale.js'
import type { ScaleRow } from './scale-measure.js'

// A real, very short run: two stacks (1 and 2 replicas), two sizes, a small data set.
describe.skipIf(process.platform !== 'linux')('pnpm loadtest:scale', () => {
  it('measures throughput and CPU per request of every role for every point', async () => {
    const before = new Set(existsSync(RESULTS_DIR) ? readdirSync(RESULTS_DIR) : [])
    const argv = ['--replicas', '1,2', '--sizes', '100,4k', '--max-keys', '500']
    argv.push('--duration', '1s', '--warmup', '500ms', '--vus', '8')
    const code = await scaleCommand(argv, readLoadtestEnv(), new AbortController().signal)
    const dir = readdirSync(RESULTS_DIR).find((d) => d.endsWith('-scale') && !before.has(d))
    expect(dir).toBeDefined()
    const summary = JSON.parse(
      readFileSync(join(RESULTS_DIR, dir as string, 'summary.json'), 'utf8'),
    ) as {
      rows: ScaleRow[]
    }
    expect(summary.rows.map((r) => r.point).sort()).toEqual([
      '1r-100B',
      '1r-4KiB',
      '2r-100B',
      '2r-4KiB',
    ])
    for (const row of summary.rows) {
      expect(row.errors_by_kind).toEqual({})
      expect(row.rps).toBeGreaterThan(0)
      expect(row.keys).toBe(500)
      // Every role worked for the requests (PostgreSQL: the writes).
      for (const role of ['replica', 'nginx', 'redis', 'postgres'] as const)
        expect(row.cpu_us_per_req[role]).toBeGreaterThan(0)
    }
    const report = readFileSync(join(RESULTS_DIR, dir as string, 'report.md'), 'utf8')
    expect(report).toContain('| 2 | 4 KiB | 500 |')
    expect(code).toBe(0)
  }, 300_000)
})
