import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CacheMode } from '@strata/stack/config'
import { cpuMillis } from '@strata/stack/processes'
import type { RunningStack } from '@strata/stack/running-stack'
import { primeKeys } from '../generator.js'
import { type Counters, counterDelta, replicaCounters } from '../probes.js'
import type { PathCost } from '../report-types.js'
import { type Dataset, keyOf, type Scenario } from '../scenario.js'
import { round } from '../summary.js'
import { findWrk, runWrk } from '../wrk.js'
import { type Comparison, onStack } from './compare-rounds.js'

/** Keys each path cycles through: the scenario's first 1,000 (seeded, and primed where it primes). */
export const PATH_KEYS = 1_000
/** wrk's connections and threads, as in the issue's per-path table. */
const CONNECTIONS = 32
const THREADS = 2
/** Unmeasured runs before each path fill L1 (or L2) with the keys and open the connections: seconds each. */
const WARMUP_S = 2

export type PathName = 'L1 hit' | 'L2 hit' | 'DB read' | 'write'

/** The paths a cache mode serves alone: a read of a warm key takes the mode's one read path. */
export const PATHS_OF: Record<CacheMode, PathName[]> = {
  multi: ['L1 hit', 'write'],
  l1: ['L1 hit', 'write'],
  l2: ['L2 hit', 'write'],
  none: ['DB read', 'write'],
}

/** wrk's Lua script: each request reads (or writes) one of the keys at random. */
export function pathScript(path: PathName, dataset: Dataset): string {
  const common = [
    `local prefix = ${JSON.stringify(dataset.prefix)}`,
    `local keys = ${PATH_KEYS}`,
    'math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))',
  ]
  if (path !== 'write')
    return [
      ...common,
      'request = function()',
      '  return wrk.format("GET", "/read/" .. prefix .. math.random(0, keys - 1))',
      'end',
      '',
    ].join('\n')
  const value = 'w'.repeat(dataset.valueBytes)
  return [
    ...common,
    'local headers = { ["Content-Type"] = "application/json" }',
    'request = function()',
    '  local key = prefix .. math.random(0, keys - 1)',
    `  return wrk.format("POST", "/write", headers, '{"key":"' .. key .. '","value":"${value}"}')`,
    'end',
    '',
  ].join('\n')
}

/** The share (%) of the replicas' reads the path's tier answered in a window; 100 for writes. */
export function pathShare(path: PathName, delta: Counters): number {
  if (path === 'write') return 100
  const answered = { 'L1 hit': delta.l1_hits, 'L2 hit': delta.l2_hits, 'DB read': delta.db_reads }
  return delta.reads === 0 ? 0 : round((answered[path] / delta.reads) * 100, 1)
}

const KINDS = ['replica', 'nginx', 'redis', 'postgres'] as const

/** The share of reads on the path a warm-up must reach before the path is measured. */
const WARM_SHARE = 95
/** Warm-up passes at most: a cold key takes two reads to reach L1 (a load fills L2, a read promotes). */
const WARMUP_PASSES = 5

/**
 * Measures one path on a running stack: warm-up passes until the path's tier answers nearly
 * every read (or the passes run out: the share measured says so), then wrk with the CPU of
 * every part.
 */
export async function measurePath(
  stack: RunningStack,
  path: PathName,
  options: {
    wrk: string
    script: string
    scenario: Scenario
    durationS: number
    warmupS?: number
    signal?: AbortSignal | undefined
  },
): Promise<PathCost> {
  const url = stack.nginxUrl
  const wrk = {
    threads: THREADS,
    connections: CONNECTIONS,
    script: { path: options.script, args: [] },
  }
  const replicaUrls = stack.replicas.map((r) => r.url)
  if (path === 'L1 hit' || path === 'L2 hit') {
    // One read of each key first puts it in L2 (at the pace of database reads, slow on a busy
    // machine); the passes below then fill every replica's L1 from there.
    const keys = Array.from({ length: PATH_KEYS }, (_, i) => keyOf(options.scenario.dataset, i))
    await primeKeys(new URL(url), options.scenario, {
      keys,
      ...(options.signal ? { signal: options.signal } : {}),
    })
  }
  for (let pass = 0; pass < WARMUP_PASSES; pass++) {
    const before = await replicaCounters(replicaUrls)
    await runWrk(options.wrk, url, { ...wrk, durationS: options.warmupS ?? WARMUP_S })
    const warm = pathShare(path, counterDelta(before, await replicaCounters(replicaUrls)))
    if (warm >= WARM_SHARE) break
  }
  const cpu = () => KINDS.map((kind) => cpuMillis(stack.pids[kind] ?? []))
  const counters = await replicaCounters(replicaUrls)
  const cpuBefore = cpu()
  const result = await runWrk(options.wrk, url, { ...wrk, durationS: options.durationS })
  const cpuAfter = cpu()
  const delta = counterDelta(counters, await replicaCounters(replicaUrls))
  const perRequest = (i: number) =>
    result.requests === 0
      ? 0
      : round((((cpuAfter[i] as number) - (cpuBefore[i] as number)) * 1000) / result.requests, 1)
  return {
    path,
    rps: Math.round(result.rps),
    requests: result.requests,
    errors: result.errors,
    share: pathShare(path, delta),
    cpu_us_per_req: {
      replica: perRequest(0),
      nginx: perRequest(1),
      redis: perRequest(2),
      postgres: perRequest(3),
    },
  }
}

/**
 * `--paths`: after the rounds and the maxima, each contender's stack serves each of its paths
 * alone (reads before writes, which leave fences behind), resumed for it like for a round.
 */
export async function measurePaths(run: Comparison): Promise<void> {
  const { settings, progress, signal } = run
  const wrk = findWrk()
  if (!wrk) {
    run.failed = true
    progress.log('--paths: wrk is not installed; no per-path costs')
    return
  }
  const durationS = Math.max(1, Math.round(settings.pathsDurationMs / 1000))
  for (const mode of settings.modes) {
    const stack = run.stacks.get(mode)?.stack
    const variant = settings.variants[mode]
    if (signal.aborted) break
    if (!stack || !variant) continue
    const label = `[paths ${mode}] `
    await onStack(run, stack, label, async () => {
      const costs: PathCost[] = []
      for (const path of PATHS_OF[variant.mode]) {
        const script = join(run.outDir, `path-${path.replace(' ', '-')}.lua`)
        writeFileSync(script, pathScript(path, settings.scenario.dataset))
        progress.update(`${label}${path}: ${durationS} s of wrk`)
        const cost = await measurePath(stack, path, {
          wrk,
          script,
          scenario: settings.scenario,
          durationS,
          signal,
        })
        costs.push(cost)
        if (cost.errors > 0) run.failed = true
        const c = cost.cpu_us_per_req
        progress.log(
          `${label}${path}: ${cost.rps.toLocaleString('en-US')} req/s${path === 'write' ? '' : ` (${cost.share}% of reads on the path)`}, CPU/req replicas ${c.replica} µs, nginx ${c.nginx}, Redis ${c.redis}, PostgreSQL ${c.postgres}${cost.errors ? `; ${cost.errors} errors` : ''}`,
        )
      }
      run.paths.set(mode, costs)
    })
  }
}
