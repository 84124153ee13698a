import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CacheMode } from '@strata/stack/config'
import { freeStackPorts } from '@strata/stack/ports'
import type { RunningStack } from '@strata/stack/running-stack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scenarioNamed } from '../../scenarios/index.js'
import { Progress } from '../progress.js'
import { seedDataset } from '../seed.js'
import { stackDown, stackUp } from '../stack-client.js'
import { findWrk } from '../wrk.js'
import {
  type Baseline,
  buildStep,
  prepareBaseline,
  resolveRevision,
  STACK_TOOL,
} from './compare-baseline.js'
import { dbLoadsPerWrite, measureMode, modeRow, VARIANTS, type Variant } from './compare-measure.js'
import { measurePath, PATHS_OF, pathScript } from './compare-paths.js'

const git = (...args: string[]) => spawnSync('git', args, { encoding: 'utf8' }).stdout.trim()

describe('--baseline: which revisions', () => {
  it('refuses a name that is no revision, and one too old to start itself', () => {
    expect(() => resolveRevision('no-such-revision-anywhere')).toThrow(
      /"no-such-revision-anywhere" is not a revision/,
    )
    const root = git('rev-list', '--max-parents=0', 'HEAD').split('\n')[0] as string
    // A shallow checkout may not reach a commit without the stack runner.
    if (spawnSync('git', ['cat-file', '-e', `${root}:${STACK_TOOL}`]).status !== 0)
      expect(() => resolveRevision(root)).toThrow(/too old to start itself/)
    expect(resolveRevision('HEAD')).toBe(git('rev-parse', 'HEAD'))
  })

  it('names the log of a build step that fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-build-step-'))
    const log = join(dir, 'build.log')
    try {
      await expect(
        buildStep('node', ['-e', 'console.log("tsc: 1 error"); process.exit(2)'], dir, log),
      ).rejects.toThrow(`failed (exit 2); its log: ${log}`)
      expect(readFileSync(log, 'utf8')).toContain('tsc: 1 error')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/*
 * The baseline's build and run, and every path of --paths, on real stacks: the current HEAD
 * built in a cached worktree (multi: L1 hits and writes), and, when wrk is installed, this
 * checkout's l2 and none stacks (L2 hits, database reads). One replica each and two seconds of wrk
 * per path: CI time.
 */
const wrk = findWrk()

describe.skipIf(process.platform !== 'linux')('--baseline and --paths', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'strata-baseline-'))
  // PostgreSQL runs as the `postgres` user when we are root: it must be able to enter the directory.
  chmodSync(workDir, 0o755)
  const logFile = join(workDir, 'stack.log')
  // A cache of its own, removed afterwards: a worktree per tested commit would pile up in the
  // user's cache otherwise.
  const cacheDir = join(workDir, 'cache')
  const scenario = scenarioNamed('hot-key')
  const progress = new Progress({ interactive: false })
  let baseline: Baseline
  const stacks: Array<{
    mode: CacheMode
    dataDir: string
    rootDir?: string
    stack?: RunningStack
  }> = [
    { mode: 'multi', dataDir: join(workDir, 'baseline') },
    ...(wrk
      ? ([
          { mode: 'l2', dataDir: join(workDir, 'l2') },
          { mode: 'none', dataDir: join(workDir, 'none') },
        ] as const)
      : []),
  ]

  beforeAll(async () => {
    baseline = await prepareBaseline({
      rev: 'HEAD',
      mode: 'multi',
      cacheDir,
      progress,
    })
    ;(stacks[0] as { rootDir?: string }).rootDir = baseline.rootDir
    await Promise.all(
      stacks.map(async (entry, i) => {
        const ports = await freeStackPorts(1, 26_000 + i * 100)
        entry.stack = await stackUp({
          dataDir: entry.dataDir,
          mode: entry.mode,
          lb: 'round-robin',
          replicas: 1,
          ports,
          env: process.env,
          logFile,
          rootDir: entry.rootDir,
        })
        // The paths read the scenario's first keys, which must exist.
        await seedDataset(entry.stack.databaseUrl as string, scenario.dataset)
      }),
    )
  }, 300_000)

  afterAll(async () => {
    for (const { dataDir, rootDir } of stacks)
      await stackDown(dataDir, process.env, logFile, rootDir).catch(() => {})
    if (baseline) git('worktree', 'remove', '--force', baseline.rootDir)
    rmSync(workDir, { recursive: true, force: true })
  }, 120_000)

  it('builds the revision once in a worktree of its own and reuses it', async () => {
    expect(baseline.name).toBe(`baseline@${git('rev-parse', '--short=7', 'HEAD')}`)
    expect(existsSync(join(baseline.rootDir, 'apps/api/dist/server.js'))).toBe(true)
    expect(git('-C', baseline.rootDir, 'rev-parse', 'HEAD')).toBe(baseline.sha)
    const again = await prepareBaseline({
      rev: baseline.sha,
      mode: 'multi',
      cacheDir,
      progress,
    })
    expect(again.rootDir).toBe(baseline.rootDir)
  })

  it('runs the baseline from its own worktree, and measures db_loads_per_write from counters', async () => {
    const stack = stacks[0]?.stack as RunningStack
    // The replica runs the worktree's build, not this checkout's.
    const cmdline = readCmdline(stack.replicas[0]?.pid as number)
    expect(cmdline).toContain(baseline.rootDir)
    const written = new Set<string>()
    const measured = await measureMode(stack, {
      scenario,
      vus: 8,
      rate: 200,
      warmupMs: 1_000,
      durationMs: 3_000,
      written,
      seedAndPrime: true,
      prime: false,
      seed: 1,
      progress,
      label: '[baseline] ',
      signal: AbortSignal.timeout(120_000),
    })
    const variant = { ...(VARIANTS.multi as Variant), revision: baseline.sha }
    const row = modeRow(baseline.name, variant, measured)
    expect(row.revision).toBe(baseline.sha)
    expect(measured.summary.writes).toBeGreaterThan(0)
    expect(measured.server.db_reads).toBeGreaterThan(0)
    expect(row.db_loads_per_write).toBe(
      dbLoadsPerWrite(measured.server.db_reads, measured.summary.writes),
    )
    expect(row.hot_key_combined_hit_rate).toBe(measured.summary.by_group?.['#1']?.combined_hit_rate)
    expect(typeof row.hot_key_combined_hit_rate).toBe('number')
  }, 120_000)

  it.skipIf(!wrk)(
    'measures every path with positive figures, each on its own path',
    async () => {
      const measured: string[] = []
      for (const { mode, stack } of stacks) {
        for (const path of PATHS_OF[mode]) {
          const script = join(workDir, `${mode}-${path.replace(' ', '-')}.lua`)
          writeFileSync(script, pathScript(path, scenario.dataset))
          const cost = await measurePath(stack as RunningStack, path, {
            wrk: wrk as string,
            script,
            scenario,
            durationS: 2,
            warmupS: 1,
          })
          measured.push(`${mode} ${path}`)
          expect(cost.errors, `${mode} ${path}`).toBe(0)
          expect(cost.rps, `${mode} ${path}`).toBeGreaterThan(0)
          // /proc counts CPU time in 10 ms ticks: over a short window a part that spends ~10 µs
          // a request (Redis on an L2 hit) may show none, so only the big parts must be positive.
          const c = cost.cpu_us_per_req
          expect(c.replica, `${mode} ${path}`).toBeGreaterThan(0)
          expect(c.nginx + c.redis + c.postgres, `${mode} ${path}`).toBeGreaterThan(0)
          if (path === 'DB read' || path === 'write')
            expect(c.postgres, `${mode} ${path}`).toBeGreaterThan(0)
          // Warm caches: most reads take the path measured. Not all: on a loaded machine a
          // replica whose bus lease lapses bypasses L1 until it renews it (89% L1 once in a test run).
          if (path !== 'write') expect(cost.share, `${mode} ${path}`).toBeGreaterThan(50)
        }
      }
      expect(measured).toEqual([
        'multi L1 hit',
        'multi write',
        'l2 L2 hit',
        'l2 write',
        'none DB read',
        'none write',
      ])
    },
    120_000,
  )
})

const readCmdline = (pid: number) =>
  readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
