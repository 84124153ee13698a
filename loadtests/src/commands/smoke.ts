import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { REDIS_TOPOLOGIES, REPO_ROOT, type RedisTopology } from '@strata/stack/config'
import { freeStackPorts } from '@strata/stack/ports'
import { scenarioNamed } from '../../scenarios/index.js'
import type { LoadtestEnv } from '../env.js'
import { duration, int, parseOptions, text } from '../options.js'
import { Progress } from '../progress.js'
import { nodeLoads, type RedisSnapshot, redisSeeds, redisSnapshot } from '../redis-nodes.js'
import { resultDir, timestamp, writeJson } from '../results.js'
import { runScenario } from '../run-scenario.js'
import { showSteps, stackDown, stackUp } from '../stack-client.js'
import { formatSummary } from '../summary.js'
import { parseThreshold } from '../thresholds.js'

/** A cluster smoke fails when a master ran less than this share (%) of the commands. */
const MIN_MASTER_SHARE = 10

export const SMOKE_HELP = `pnpm loadtest:smoke [options]
  The CI smoke test: brings a throw-away stack up on free ports (its own data directory, never
  the user's), seeds and primes read-heavy, runs it for 15 s after a 5 s warm-up, tears the
  stack down, and fails unless there were zero errors and a combined hit rate above 90%.
  Prints the commands each Redis node ran in the window.

  --duration D       measured window (default 15s)
  --vus N            virtual users (default 8: enough to exercise every tier without
                     saturating a 2-core CI machine, where queueing, not the cache, would
                     decide the figures)
  --redis single|cluster
                     the stack's Redis (default single); with cluster, a Redis Cluster of 3
                     masters + 3 replicas, and the smoke also fails unless every master ran
                     at least ${MIN_MASTER_SHARE}% of the commands (the keys are spread over them)

  Exit status: 0 passed, 1 failed.`

/** `pnpm loadtest:smoke`. */
export async function smokeCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values } = parseOptions(argv, {
    duration: duration('15s'),
    vus: int(8),
    redis: text('single'),
  })
  const redis = values.redis
  if (!REDIS_TOPOLOGIES.includes(redis as RedisTopology))
    throw new RangeError(`--redis: expected one of ${REDIS_TOPOLOGIES.join(', ')}`)
  const started = Date.now()
  const progress = new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) })
  const scenario = scenarioNamed('read-heavy')
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-smoke-'))
  chmodSync(dataDir, 0o755)
  const outDir = resultDir(`${timestamp()}-smoke`)
  const logFile = join(outDir, 'stack.log')
  const stackEnv = { ...env.all, ACCESS_LOG: 'false' }
  try {
    const ports = await freeStackPorts(3, undefined, redis as RedisTopology)
    progress.log(
      `smoke: starting a throw-away stack on ports ${ports.nginx}-${ports.postgres} (log: ${relative(REPO_ROOT, logFile)})`,
    )
    const stack = await stackUp(
      {
        dataDir,
        mode: 'multi',
        lb: 'round-robin',
        redis: redis as RedisTopology,
        replicas: 3,
        ports,
        env: stackEnv,
        logFile,
      },
      showSteps(progress, 'smoke: '),
    )
    progress.log(`smoke: stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    let before: Promise<{ redis: RedisSnapshot; at: number }> | undefined
    const seeds = redisSeeds(stack)
    const summary = await runScenario({
      target: new URL(stack.nginxUrl),
      scenario,
      databaseUrl: stack.databaseUrl,
      vus: values.vus,
      warmupMs: 5_000,
      durationMs: values.duration,
      prime: true,
      thresholds: ['errors==0', 'combined_hit_rate>90'].map(parseThreshold),
      seed: 1,
      progress,
      label: 'smoke: ',
      signal,
      onMeasureStart: () => {
        before = snapshotAt(seeds)
        before.catch(() => {})
      },
    })
    const balanced = await reportNodes(before, seeds, redis === 'cluster')
    const text = formatSummary(summary)
    writeJson(join(outDir, 'summary.json'), summary)
    writeFileSync(join(outDir, 'summary.txt'), `${text}\n`)
    console.log(`\n${text}\n`)
    const passed = summary.passed && balanced
    if (!passed) console.error(`smoke: FAILED (summary in ${relative(REPO_ROOT, outDir)}/)`)
    return passed ? 0 : 1
  } catch (error) {
    console.error(`smoke: FAILED: ${(error as Error).message}`)
    return 1
  } finally {
    await stackDown(dataDir, stackEnv, logFile).catch((error: unknown) =>
      console.error(`smoke: could not stop the stack: ${(error as Error).message}`),
    )
    rmSync(dataDir, { recursive: true, force: true })
    progress.log(`smoke: done in ${Math.round((Date.now() - started) / 1000)} s`)
  }
}

/** Every Redis node's counters now. */
async function snapshotAt(seeds: readonly string[]): Promise<{ redis: RedisSnapshot; at: number }> {
  return { redis: await redisSnapshot(seeds), at: performance.now() }
}

/**
 * Prints what each Redis node ran over the measured window; returns false when `cluster` and a
 * master ran less than {@link MIN_MASTER_SHARE}% of the commands.
 */
async function reportNodes(
  before: Promise<{ redis: RedisSnapshot; at: number }> | undefined,
  seeds: readonly string[],
  cluster: boolean,
): Promise<boolean> {
  if (!before) throw new Error('the measured window never opened')
  const [start, end] = await Promise.all([before, snapshotAt(seeds)])
  const loads = nodeLoads(start.redis, end.redis, (end.at - start.at) / 1000)
  for (const load of loads)
    console.log(
      `smoke: Redis ${load.node}: ${Math.round(load.commands_per_s)} commands/s (${load.share}%)`,
    )
  const starved = loads.filter((load) => load.share < MIN_MASTER_SHARE)
  if (!cluster) return true
  if (loads.length < 3 || starved.length > 0) {
    console.error(
      `smoke: FAILED: every one of the cluster's 3 masters should run at least ${MIN_MASTER_SHARE}% of the commands`,
    )
    return false
  }
  return true
}
