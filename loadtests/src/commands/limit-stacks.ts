import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { freeStackPorts } from '@strata/stack/ports'
import type { RunningStack } from '@strata/stack/running-stack'
import { type Child, stopChild, waitUntil } from '../processes.js'
import type { Progress } from '../progress.js'
import { showSteps, stackDown, stackUp } from '../stack-client.js'

/** The key every contender serves: an L1 hit on every replica. */
export const HOT_KEY = 'limit:hot'

/** A contender: something behind nginx that wrk measures. */
export interface Contender {
  name: string
  url: string
  /** Replica URLs whose counters tell whether the stack really served from L1. */
  replicaUrls?: string[]
  /** The app's processes (replicas or bare servers), for CPU time per request. */
  appPids: number[]
  /** nginx's master; its workers are counted as its children. */
  nginxPids: number[]
}

/** A physical-limit run under way: what it started, and where things go. */
export interface LimitRun {
  replicas: number
  /** Run every app process under the CPU profiler. */
  profile: boolean
  progress: Progress
  outDir: string
  /** Scratch directory: the stacks' data, the bare side's nginx and body file. */
  work: string
  profileDir: string
  /** The module that starts the CPU profiler in a process it is imported into. */
  preload: string
  logFile: string
  /** The environment of every process started (NODE_OPTIONS removed). */
  baseEnv: Record<string, string | undefined>
  stacks: Array<{ dataDir: string; stack?: RunningStack }>
  children: Child[]
  /** The app processes of each contender, by name, for the profile analysis. */
  pids: Record<string, number[]>
}

/**
 * Two stacks: as shipped (ACCESS_LOG off: nginx logs every request) and with one access-log
 * line per request on every replica, to show what that costs.
 */
export async function startStrata(run: LimitRun): Promise<Contender[]> {
  const { progress } = run
  const variants = [
    { name: 'strata (as shipped)', accessLog: 'false' },
    { name: 'strata, ACCESS_LOG=true', accessLog: 'true' },
  ]
  const contenders: Contender[] = []
  for (const [i, variant] of variants.entries()) {
    const dataDir = join(run.work, `stack-${i + 1}`)
    mkdirSync(dataDir, { mode: 0o755 })
    const entry: { dataDir: string; stack?: RunningStack } = { dataDir }
    run.stacks.push(entry)
    const ports = await freeStackPorts(run.replicas, 25_000 + i * 100)
    progress.log(`starting ${variant.name} on ports ${ports.nginx}-${ports.postgres}`)
    const stackEnv = {
      ...run.baseEnv,
      ACCESS_LOG: variant.accessLog,
      ...(run.profile
        ? { NODE_OPTIONS: `--import ${run.preload}`, STRATA_CPU_PROF_DIR: run.profileDir }
        : {}),
    }
    const stack = await stackUp(
      {
        dataDir,
        mode: 'multi',
        lb: 'round-robin',
        replicas: run.replicas,
        ports,
        env: stackEnv,
        logFile: run.logFile,
      },
      showSteps(progress, `${variant.name}: `),
    )
    entry.stack = stack
    run.pids[variant.name] = stack.replicas.map((r) => r.pid)
    await writeAndWarm(stack)
    contenders.push({
      name: variant.name,
      url: `${stack.nginxUrl}/read/${HOT_KEY}`,
      replicaUrls: stack.replicas.map((r) => r.url),
      appPids: stack.replicas.map((r) => r.pid),
      nginxPids: stack.pids.nginx ?? [],
    })
  }
  return contenders
}

/** Writes the hot key and reads it on every replica until each serves it from L1. */
async function writeAndWarm(stack: RunningStack): Promise<void> {
  const write = await fetch(`${stack.nginxUrl}/write`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: HOT_KEY, value: 'v'.repeat(100) }),
  })
  if (!write.ok) throw new Error(`writing ${HOT_KEY} answered ${write.status}`)
  for (const replica of stack.replicas) {
    await waitUntil(`${replica.name} serving ${HOT_KEY} from L1`, async () => {
      const response = await fetch(`${replica.url}/read/${HOT_KEY}`)
      await response.arrayBuffer()
      return response.headers.get('x-cache-level') === 'L1'
    })
  }
}

/** Stops everything the run started; a second call finds nothing left to stop. */
export async function teardown(run: LimitRun): Promise<void> {
  const { stacks, children } = run
  await Promise.all(
    children.map((child) => stopChild(child, child.name === 'bare-nginx' ? 'SIGQUIT' : 'SIGTERM')),
  )
  for (const { dataDir } of stacks)
    await stackDown(dataDir, run.baseEnv, run.logFile).catch(() => {})
  stacks.length = 0
  children.length = 0
}
