import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import {
  type CacheMode,
  type LoadBalancing,
  REPO_ROOT,
  type RedisTopology,
} from '@strata/stack/config'
import { getJson } from '@strata/stack/http'
import type { StackPorts } from '@strata/stack/ports'
import { withChildren } from '@strata/stack/processes'
import { type RunningStack, readStack } from '@strata/stack/running-stack'
import { waitUntil } from './processes.js'
import type { Progress } from './progress.js'

/** A stack to start with `pnpm stack up`. */
export interface StackSpec {
  dataDir: string
  mode: CacheMode
  lb: LoadBalancing
  /** One redis-server, or a Redis Cluster of 3 masters + 3 replicas. @default 'single' */
  redis?: RedisTopology
  replicas: number
  /** Redis `maxmemory` (`--redis-max-memory`), e.g. 2gb. @default the stack runner's, 256mb */
  redisMaxMemory?: string
  ports: StackPorts
  /** The environment of `pnpm stack up`, which passes it on to every replica. */
  env: Readonly<Record<string, string | undefined>>
  /** Where the stack runner's own output goes. */
  logFile: string
  /**
   * The checkout whose stack runner starts the stack (a `--baseline` worktree starts itself with
   * its own). @default this repository
   */
  rootDir?: string | undefined
}

/** The stack runner of a checkout, as its `pnpm stack` script runs it. */
const STACK_RUNNER = ['--import', 'tsx', 'scripts/src/stack.ts']

/**
 * Runs the stack runner of `rootDir` (what `pnpm stack <args>` runs there) with its output in
 * `logFile`; each line it prints also goes to `onLine` (the stack runner's steps, for progress).
 */
function runStackCli(
  args: string[],
  env: Readonly<Record<string, string | undefined>>,
  logFile: string,
  timeoutMs: number,
  onLine?: (line: string) => void,
  rootDir = REPO_ROOT,
): Promise<void> {
  const fd = openSync(logFile, 'a')
  return new Promise<void>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...STACK_RUNNER, ...args], {
      cwd: rootDir,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let partial = ''
    const relay = (chunk: Buffer) => {
      writeSync(fd, chunk)
      if (!onLine) return
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) if (line.trim() !== '') onLine(line.trim())
    }
    child.stdout.on('data', relay)
    child.stderr.on('data', relay)
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(new Error(`could not run pnpm stack ${args[0]}: ${error.message}`))
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolvePromise()
      else {
        const tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n')
        reject(
          new Error(
            `${rootDir === REPO_ROOT ? '' : `${rootDir}: `}pnpm stack ${args.join(' ')} failed (${signal ?? `exit ${code}`}); its output (${logFile}):\n${tail}`,
          ),
        )
      }
    })
  }).finally(() => closeSync(fd))
}

/**
 * Starts a stack with the stack runner (`pnpm stack up`) and returns it once every component is
 * healthy. `DATABASE_URL`, `REDIS_URL` and `REDIS_CLUSTER_NODES` are removed from its environment,
 * so it always starts its own PostgreSQL and Redis and never touches the user's. nginx's rate limits are off: every
 * request of the generator comes from one address and must be measured, not throttled.
 * `onStep` gets every line the stack runner prints (see {@link showSteps}).
 */
export async function stackUp(
  spec: StackSpec,
  onStep?: (line: string) => void,
): Promise<RunningStack> {
  const env = { ...spec.env }
  delete env.DATABASE_URL
  delete env.REDIS_URL
  delete env.REDIS_CLUSTER_NODES
  await runStackCli(
    [
      'up',
      '--data-dir',
      spec.dataDir,
      '--mode',
      spec.mode,
      '--lb',
      spec.lb,
      '--redis',
      spec.redis ?? 'single',
      '--replicas',
      String(spec.replicas),
      '--nginx-port',
      String(spec.ports.nginx),
      '--replica-port-base',
      String(spec.ports.replicaBase),
      '--redis-port',
      String(spec.ports.redis),
      '--postgres-port',
      String(spec.ports.postgres),
      ...(spec.redisMaxMemory ? ['--redis-max-memory', spec.redisMaxMemory] : []),
      // Measurements, not clients to protect against: nginx's per-address limits are off.
      '--rate-limit',
      'off',
    ],
    env,
    spec.logFile,
    180_000,
    onStep,
    spec.rootDir,
  )
  const stack = readStack(spec.dataDir)
  if (!stack) throw new Error(`pnpm stack up succeeded but wrote no ${spec.dataDir}/stack.json`)
  return stack
}

/** Stops the stack of a data directory (`pnpm stack down`); nothing happens when none runs. */
export function stackDown(
  dataDir: string,
  env: Readonly<Record<string, string | undefined>>,
  logFile: string,
  rootDir?: string,
): Promise<void> {
  return runStackCli(['down', '--data-dir', dataDir], env, logFile, 120_000, undefined, rootDir)
}

/** Front to back, so that nothing is paused while a part in front of it could still call it. */
const PAUSE_ORDER = ['nginx', 'replica', 'redis', 'postgres'] as const

function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // Gone already: nothing to pause or resume.
    }
  }
}

/**
 * Pauses every process of a stack and their children (SIGSTOP). An idle stack is not idle: each
 * replica PINGs the bus every 15 ms for its lease and flushes its stats every second, about
 * 30 ms of CPU per second for a 3-replica stack, and hundreds of wake-ups a second that land in
 * the measured stack's tail. Pause what is not being measured; {@link resumeStack} undoes it.
 */
export function pauseStack(stack: RunningStack): void {
  for (const kind of PAUSE_ORDER) signalAll(withChildren(stack.pids[kind] ?? []), 'SIGSTOP')
}

/**
 * Resumes a paused stack, back to front, and waits until every replica reports itself healthy
 * with L1 serving again: a replica whose bus went quiet while it was paused renews its lease, or
 * resubscribes (with an empty L1) when its heartbeat gave up.
 */
export async function resumeStack(stack: RunningStack, timeoutMs = 30_000): Promise<void> {
  for (const kind of [...PAUSE_ORDER].reverse())
    signalAll(withChildren(stack.pids[kind] ?? []), 'SIGCONT')
  const serving = async (url: string) => {
    const health = (await getJson(`${url}/health`, 2_000)) as {
      status?: string
      checks?: { l1?: string }
    }
    return health.status === 'healthy' && health.checks?.l1 !== 'bypassed'
  }
  await waitUntil(
    `the resumed stack in ${stack.dataDir}`,
    async () => (await Promise.all(stack.replicas.map((r) => serving(r.url)))).every(Boolean),
    timeoutMs,
  )
}

/**
 * An `onStep` for {@link stackUp} that shows the stack runner's steps (`> Building the API`,
 * `> Starting postgres on port …`) as progress, so a slow start (a first build) is never silent.
 */
export const showSteps =
  (progress: Progress, label: string) =>
  (line: string): void => {
    if (line.startsWith('>')) progress.update(`${label}${line.slice(1).trim()}`)
  }
