import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { withChildren } from './proc-cpu.js'
import { waitUntil } from './processes.js'
import type { Progress } from './progress.js'

/** The repository root (this file is loadtests/src/stack-client.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '')

/** Cache modes of the API (`CACHE_MODE`). */
export type CacheMode = 'multi' | 'l2' | 'l1' | 'none'
/** nginx's routing of reads. */
export type LoadBalancing = 'round-robin' | 'key-affinity'

/** The database the stack runner creates in the PostgreSQL it starts (tools/stack/src/components/postgres.ts). */
const STACK_DATABASE = 'strata'

/** Ports of a stack, all on 127.0.0.1. */
export interface StackPorts {
  nginx: number
  /** Replica i (1-based) listens on `replicaBase + i - 1`. */
  replicaBase: number
  redis: number
  postgres: number
}

/** A stack to start with `pnpm stack up`. */
export interface StackSpec {
  dataDir: string
  mode: CacheMode
  lb: LoadBalancing
  replicas: number
  ports: StackPorts
  /** The environment of `pnpm stack up`, which passes it on to every replica. */
  env: Readonly<Record<string, string | undefined>>
  /** Where the stack runner's own output goes. */
  logFile: string
}

/** A running stack, as read from `<data-dir>/stack.json`. */
export interface RunningStack {
  dataDir: string
  mode: CacheMode
  lb: LoadBalancing
  nginxUrl: string
  /** True when nginx rate-limits writes per client address, which throttles a load generator. */
  rateLimited: boolean
  replicas: Array<{ name: string; url: string; pid: number }>
  /** Pids of the processes the stack runs, by kind (`postgres`, `redis`, `replica`, `nginx`). */
  pids: Record<string, number[]>
  /**
   * Redis's `default` user, which may run INFO (the replicas' own user may not); undefined for
   * an external Redis whose URL was recorded without its password.
   */
  redisUrl: string | undefined
  /**
   * The stack's database as the `postgres` superuser, which seeding needs for CHECKPOINT;
   * undefined when the stack uses an external PostgreSQL.
   */
  databaseUrl: string | undefined
}

/** The part of `<data-dir>/credentials.json` (mode 600) this package relies on. */
interface StackCredentialsFile {
  version: number
  postgres: { superuserPassword: string }
  redis: { adminPassword: string }
}

/** The part of the stack runner's state file this package relies on. */
interface StackStateFile {
  version: number
  options: { mode: CacheMode; lb: LoadBalancing; nginxPort: number; rateLimit?: boolean }
  external?: { database?: string; redis?: string }
  components: Array<{ name: string; kind: string; pid: number; port: number; url: string }>
}

/** Reads `<data-dir>/stack.json`; undefined when no stack was started from that directory. */
export function readStack(dataDir: string): RunningStack | undefined {
  let state: StackStateFile
  try {
    state = JSON.parse(readFileSync(resolve(dataDir, 'stack.json'), 'utf8')) as StackStateFile
  } catch {
    return undefined
  }
  const component = (kind: string) => state.components.find((c) => c.kind === kind)
  const postgres = component('postgres')
  const redis = component('redis')
  // The stack's passwords; this process runs as the user who started it, who may read the file.
  let credentials: StackCredentialsFile | undefined
  try {
    credentials = JSON.parse(
      readFileSync(resolve(dataDir, 'credentials.json'), 'utf8'),
    ) as StackCredentialsFile
  } catch {
    credentials = undefined
  }
  const password = (secret: string | undefined) => encodeURIComponent(secret ?? '')
  const external = state.external?.redis
  return {
    dataDir,
    mode: state.options.mode,
    lb: state.options.lb,
    nginxUrl: component('nginx')?.url ?? `http://127.0.0.1:${state.options.nginxPort}`,
    rateLimited: state.options.rateLimit === true,
    replicas: state.components
      .filter((c) => c.kind === 'replica')
      .map((c) => ({ name: c.name, url: c.url, pid: c.pid })),
    pids: state.components.reduce<Record<string, number[]>>((by, c) => {
      by[c.kind] = [...(by[c.kind] ?? []), c.pid]
      return by
    }, {}),
    redisUrl: redis
      ? `redis://default:${password(credentials?.redis.adminPassword)}@127.0.0.1:${redis.port}`
      : external && !external.includes(':***@')
        ? external
        : undefined,
    databaseUrl: postgres
      ? `postgres://postgres:${password(credentials?.postgres.superuserPassword)}@127.0.0.1:${postgres.port}/${STACK_DATABASE}`
      : undefined,
  }
}

/**
 * Runs `pnpm stack <args>` in the repository root with its output in `logFile`; each line it
 * prints also goes to `onLine` (the stack runner's steps, for progress).
 */
function runStackCli(
  args: string[],
  env: Readonly<Record<string, string | undefined>>,
  logFile: string,
  timeoutMs: number,
  onLine?: (line: string) => void,
): Promise<void> {
  const fd = openSync(logFile, 'a')
  return new Promise<void>((resolvePromise, reject) => {
    const child = spawn('pnpm', ['--silent', 'stack', ...args], {
      cwd: REPO_ROOT,
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
            `pnpm stack ${args.join(' ')} failed (${signal ?? `exit ${code}`}); its output (${logFile}):\n${tail}`,
          ),
        )
      }
    })
  }).finally(() => closeSync(fd))
}

/**
 * Starts a stack with the stack runner (`pnpm stack up`) and returns it once every component is
 * healthy. `DATABASE_URL` and `REDIS_URL` are removed from its environment, so it always starts
 * its own PostgreSQL and Redis and never touches the user's. nginx's rate limits are off: every
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
  await runStackCli(
    [
      'up',
      '--data-dir',
      spec.dataDir,
      '--mode',
      spec.mode,
      '--lb',
      spec.lb,
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
      // Measurements, not clients to protect against: nginx's per-address limits are off.
      '--rate-limit',
      'off',
    ],
    env,
    spec.logFile,
    180_000,
    onStep,
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
): Promise<void> {
  return runStackCli(['down', '--data-dir', dataDir], env, logFile, 120_000)
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
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })
    const health = (await response.json()) as { status?: string; checks?: { l1?: string } }
    return health.status === 'healthy' && health.checks?.l1 !== 'bypassed'
  }
  await waitUntil(
    `the resumed stack in ${stack.dataDir}`,
    async () => (await Promise.all(stack.replicas.map((r) => serving(r.url)))).every(Boolean),
    timeoutMs,
  )
}

/** True when nothing listens on `port` (checked as nginx binds: all interfaces). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer()
    server.once('error', () => resolvePromise(false))
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () =>
      server.close(() => resolvePromise(true)),
    )
  })
}

/**
 * Finds `count` consecutive free ports, trying `preferred` first and then other blocks below
 * the kernel's ephemeral range (32768+), so a stack never takes a port a client might get.
 */
export async function freePortBlock(count: number, preferred?: number): Promise<number> {
  const candidates = preferred === undefined ? [] : [preferred]
  for (let i = 0; i < 60; i++) candidates.push(20_000 + Math.floor(Math.random() * 120) * 100)
  for (const base of candidates) {
    let free = true
    for (let port = base; port < base + count && free; port++) free = await isPortFree(port)
    if (free) return base
  }
  throw new Error(`found no ${count} consecutive free ports between 20000 and 32000`)
}

/** Ports for a stack of `replicas` in one block: nginx, the replicas, Redis, PostgreSQL. */
export async function freeStackPorts(replicas: number, preferred?: number): Promise<StackPorts> {
  const base = await freePortBlock(replicas + 3, preferred)
  return {
    nginx: base,
    replicaBase: base + 1,
    redis: base + replicas + 1,
    postgres: base + replicas + 2,
  }
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
