import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import type { CacheMode, LoadBalancing } from './config.js'
import type { DaemonIdentity } from './daemons.js'

/** The kinds of component, in start order; they stop in the reverse order. */
export type ComponentKind = 'postgres' | 'redis' | 'replica' | 'nginx'

/** One running component, as `status` and `down` find it from another process. */
export interface ComponentState extends DaemonIdentity {
  /** `postgres`, `redis`, `replica-1`…, `nginx`; also the name of its log file. */
  name: string
  kind: ComponentKind
  port: number
  /** How clients reach it (`http://127.0.0.1:8101`, `redis://127.0.0.1:6383`, …). */
  url: string
  logFile: string
}

/** `<data-dir>/stack.json`: written when the stack is up, updated on a replica restart, removed by `down`. */
export interface StackState {
  version: 1
  /** The process that owns the stack: the foreground `pnpm start`, or the `stack up` that started it. */
  ownerPid: number
  /** The owner's kernel start time, so a reused pid is not mistaken for it. */
  ownerStartTime: string | undefined
  /** True for `pnpm start`: `down` then asks that process to stop, so it exits cleanly too. */
  foreground: boolean
  startedAt: string
  options: {
    replicas: number
    mode: CacheMode
    lb: LoadBalancing
    nginxPort: number
    replicaPortBase: number
    /** Whether nginx rate-limits writes and /clear-cache (absent in files of older versions). */
    rateLimit?: boolean
  }
  /** Servers given by DATABASE_URL / REDIS_URL (credentials removed), which the stack does not own. */
  external: { database?: string; redis?: string }
  components: ComponentState[]
}

/** Reads the state file; undefined when there is none (no stack, or a clean `down`). */
export function readState(path: string): StackState | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  const state = JSON.parse(text) as StackState
  if (state.version !== 1)
    throw new Error(`${path} was written by another version of the stack runner`)
  return state
}

/** Writes the state file atomically, so a concurrent `status` never reads half of it. */
export function writeState(path: string, state: StackState): void {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`)
  renameSync(temporary, path)
}

/** Removes the state file once nothing of the stack runs. */
export function removeState(path: string): void {
  rmSync(path, { force: true })
}
