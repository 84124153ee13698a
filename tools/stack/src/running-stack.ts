import { resolve } from 'node:path'
import { type CacheMode, DATABASE_NAME, type LoadBalancing, type RedisTopology } from './config.js'
import type { StackCredentials } from './credentials.js'
import { type ComponentKind, readState, readVersionedFile } from './state.js'

/**
 * A stack started by `pnpm start` / `pnpm stack up`, as another process finds it: the one reader
 * of `<data-dir>/stack.json` and `credentials.json` for every tool (load tests, chaos, scripts).
 * Only node: modules and the stack's light modules are imported here, so the load generator's
 * image can read a stack without the stack runner's dependencies.
 */
export interface RunningStack {
  dataDir: string
  mode: CacheMode
  lb: LoadBalancing
  nginxUrl: string
  /** True when nginx rate-limits writes per client address, which throttles a load generator. */
  rateLimited: boolean
  replicas: Array<{ name: string; url: string; pid: number }>
  /** Pids of the processes the stack runs, by kind. */
  pids: Partial<Record<ComponentKind, number[]>>
  /** The stack's own Redis: one server, or a Redis Cluster (`--redis cluster`). */
  redisTopology: RedisTopology
  /**
   * Redis's `default` user, which may run INFO (the replicas' own user may not); undefined for
   * an external Redis whose URL was recorded without its password, and for a cluster, whose
   * numbers one node's INFO would not give (see `redisNodeUrls`).
   */
  redisUrl: string | undefined
  /** Each node of the stack's Redis (one, or six for a cluster) as `default`, in node order. */
  redisNodeUrls: string[]
  /**
   * The stack's database as the `postgres` superuser, which seeding needs for CHECKPOINT;
   * undefined when the stack uses an external PostgreSQL.
   */
  databaseUrl: string | undefined
}

/**
 * Reads the stack of a data directory; undefined when none was started from it (or it was
 * stopped). Files written by another version of the stack runner are refused (a StackError),
 * not guessed at.
 */
export function readStack(dataDir: string): RunningStack | undefined {
  const state = readState(resolve(dataDir, 'stack.json'))
  if (!state) return undefined
  const component = (kind: ComponentKind) => state.components.find((c) => c.kind === kind)
  const postgres = component('postgres')
  const redisTopology = state.options.redis ?? 'single'
  const redisNodes = state.components.filter((c) => c.kind === 'redis')
  const redis = redisTopology === 'single' ? component('redis') : undefined
  // The stack's passwords; this process runs as the user who started it, who may read the file.
  const credentials = readVersionedFile<StackCredentials>(resolve(dataDir, 'credentials.json'))
  const password = (secret: string | undefined) => encodeURIComponent(secret ?? '')
  const external = state.external?.redis
  const adminRedisUrl = (port: number) =>
    `redis://default:${password(credentials?.redis.adminPassword)}@127.0.0.1:${port}`
  const pids: RunningStack['pids'] = {}
  for (const c of state.components) pids[c.kind] = [...(pids[c.kind] ?? []), c.pid]
  return {
    dataDir,
    mode: state.options.mode,
    lb: state.options.lb,
    nginxUrl: component('nginx')?.url ?? `http://127.0.0.1:${state.options.nginxPort}`,
    rateLimited: state.options.rateLimit === true,
    replicas: state.components
      .filter((c) => c.kind === 'replica')
      .map((c) => ({ name: c.name, url: c.url, pid: c.pid })),
    pids,
    redisTopology,
    redisNodeUrls: redisNodes.map((node) => adminRedisUrl(node.port)),
    redisUrl: redis
      ? adminRedisUrl(redis.port)
      : redisTopology === 'single' && external && !external.includes(':***@')
        ? external
        : undefined,
    databaseUrl: postgres
      ? `postgres://postgres:${password(credentials?.postgres.superuserPassword)}@127.0.0.1:${postgres.port}/${DATABASE_NAME}`
      : undefined,
  }
}
