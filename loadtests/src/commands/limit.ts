import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import type { RunningStack } from '@strata/stack/running-stack'
import type { LoadtestEnv } from '../env.js'
import { duration, flag, int, parseOptions } from '../options.js'
import { Progress } from '../progress.js'
import { publishLatest, resultDir, timestamp } from '../results.js'
import { findWrk } from '../wrk.js'
import { startBare } from './limit-bare.js'
import { writeLimitResults, writeProfile } from './limit-report.js'
import { limitRows, measureRounds, type WrkSettings } from './limit-rounds.js'
import { type LimitRun, startStrata, teardown } from './limit-stacks.js'

export const LIMIT_HELP = `pnpm loadtest:limit [options]
  The physical limit: L1-hit throughput of the full stack through nginx against a bare Hono app
  (loadtests/bare/) that returns the same JSON body and headers, behind the same nginx
  configuration with the same number of replicas. Both run side by side; wrk measures them in
  interleaved rounds and the medians are compared. Target: ratio ≥ 0.9.

  --rounds N          rounds; each measures every contender once, in rotating order (default 5)
  --round-duration D  seconds per measurement (default 5)
  --connections N     wrk connections (default 64)
  --threads N         wrk threads (default 1: the generator shares 2 cores with the servers)
  --replicas N        replicas on each side (default 3)
  --profile           run every replica and bare server with --cpu-prof and report where the
                      CPU goes on each side (throughput is then a little lower on both)
  --no-latest         do not refresh loadtests/results/latest/limit.{json,md}

  Needs wrk (apt-get install wrk) and nginx.`

const NGINX = [
  '/usr/sbin/nginx',
  '/usr/bin/nginx',
  '/usr/local/sbin/nginx',
  '/usr/local/nginx/sbin/nginx',
]

/** `pnpm loadtest:limit`. */
export async function limitCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values } = parseOptions(argv, {
    rounds: int(5),
    'round-duration': duration('5s'),
    connections: int(64),
    threads: int(1),
    replicas: int(3),
    profile: flag(),
    'no-latest': flag(),
  })
  const wrk = findWrk()
  if (!wrk) {
    console.error('wrk is not installed: apt-get install -y wrk')
    return 1
  }
  const nginx = NGINX.find((path) => existsSync(path))
  if (!nginx) {
    console.error('nginx is not installed: apt-get install -y nginx')
    return 1
  }
  const settings: WrkSettings = {
    wrk,
    rounds: values.rounds,
    threads: values.threads,
    connections: values.connections,
    // wrk takes whole seconds.
    durationS: Math.max(1, Math.round(values['round-duration'] / 1000)),
  }
  const run = newLimitRun(values.replicas, values.profile, env)
  try {
    const contenders = await startStrata(run)
    const reference = run.stacks[0]?.stack as RunningStack
    contenders.push(await startBare(run, reference, nginx))
    const measured = await measureRounds(contenders, settings, run.progress, signal)
    if (signal.aborted) return 130
    const rows = limitRows(contenders, measured.results)
    const files = writeLimitResults(run, settings, rows)
    // Profiles are written when the processes exit: stop everything first.
    await teardown(run)
    if (run.profile) files.push(writeProfile(run, contenders, measured))
    if (!values['no-latest'] && !run.profile) publishLatest(run.outDir, files)
    console.log(`\nResults: ${relative(REPO_ROOT, run.outDir)}/`)
    return rows.some((r) => r.errors > 0) ? 1 : 0
  } finally {
    await teardown(run)
    rmSync(run.work, { recursive: true, force: true })
  }
}

/** A run with nothing started yet: its result and scratch directories and its environment. */
function newLimitRun(replicas: number, profile: boolean, env: LoadtestEnv): LimitRun {
  const outDir = resultDir(`${timestamp()}-limit`)
  const work = mkdtempSync(join(tmpdir(), 'strata-limit-'))
  chmodSync(work, 0o755)
  const profileDir = join(outDir, 'profiles')
  if (profile) mkdirSync(profileDir, { recursive: true })
  const baseEnv: Record<string, string | undefined> = { ...env.all, NODE_ENV: 'production' }
  delete baseEnv.NODE_OPTIONS
  return {
    replicas,
    profile,
    progress: new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) }),
    outDir,
    work,
    profileDir,
    // --cpu-prof is refused in NODE_OPTIONS, so a preloaded module drives the profiler instead.
    preload: join(REPO_ROOT, 'loadtests/src/cpu-profiler-preload.mjs'),
    logFile: join(outDir, 'stack.log'),
    baseEnv,
    stacks: [],
    children: [],
    pids: {},
  }
}
