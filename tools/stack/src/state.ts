import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import type { CacheMode, LoadBalancing, RedisTopology } from './config.js'
import type { DaemonIdentity } from './daemons.js'
import { StackError } from './errors.js'

/** The kinds of component, in start order; they stop in the reverse order. */
export type ComponentKind = 'postgres' | 'redis' | 'replica' | 'nginx'

/** One running component, as `status` and `down` find it from another process. */
export interface ComponentState extends DaemonIdentity {
  /** `postgres`, `redis` (or `redis-1`… of a cluster), `replica-1`…, `nginx`; also its log file's name. */
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
    /** The stack's own Redis: one server or a cluster (absent in files of older versions: single). */
    redis?: RedisTopology
  }
  /** Servers given by DATABASE_URL / REDIS_URL (credentials removed), which the stack does not own. */
  external: { database?: string; redis?: string }
  components: ComponentState[]
}

/**
 * Reads one of the stack runner's versioned JSON files (state, credentials); undefined when there
 * is none. A file of another version is refused, not guessed at.
 */
export function readVersionedFile<T extends { version: number }>(path: string): T | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  const parsed = JSON.parse(text) as T
  if (parsed.version !== 1)
    throw new StackError(
      'E_COMPONENT_FAILED',
      `${path} was written by another version of the stack runner`,
    )
  return parsed
}

/**
 * Writes a JSON file under a temporary name, with its final `mode`, then renames it: a
 * concurrent reader never sees half of it, and no one else can read it before its mode is set.
 */
export function writeFileAtomically(path: string, value: unknown, mode = 0o644): void {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode })
  renameSync(temporary, path)
}

/** Reads the state file; undefined when there is none (no stack, or a clean `down`). */
export function readState(path: string): StackState | undefined {
  return readVersionedFile<StackState>(path)
}

/** Writes the state file atomically, so a concurrent `status` never reads half of it. */
export function writeState(path: string, state: StackState): void {
  writeFileAtomically(path, state)
}

/** Removes the state file once nothing of the stack runs. */
export function removeState(path: string): void {
  rmSync(path, { force: true })
}
