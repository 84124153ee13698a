import { dirname } from 'node:path'
import { logFileOf, replicaName, replicaPort, stackPaths } from '../config.js'
import { httpStatus } from '../http.js'
import { launch, type RunningComponent, type StartContext } from './launch.js'

/** Where the replicas find their database and Redis. */
export interface ReplicaBackends {
  databaseUrl: string
  redisUrl: string
  /**
   * REDIS_CLUSTER_NODES, when the stack runs a Redis Cluster: seed URLs, comma-separated. The
   * replicas then get it instead of REDIS_URL.
   */
  redisClusterNodes?: string | undefined
}

/**
 * Node flags every replica runs with. Several replicas share one machine's cores with nginx,
 * Redis and PostgreSQL, so V8's parallel GC helper threads only compete with the other
 * processes for the same cores and stretch every pause: on a 2-core machine running the whole
 * stack, `--single-threaded-gc` took read-heavy's p99 from 5.1 to 4.0 ms and the largest pause
 * from about 40 to 24 ms. (deploy/Dockerfile starts the image's replicas the same way.)
 */
export const REPLICA_NODE_FLAGS: readonly string[] = ['--single-threaded-gc']

/**
 * Starts replica `index` (1-based) and waits for `/health/ready`. A restart appends to its log,
 * so the lines before a crash stay there.
 */
export async function startReplica(
  ctx: StartContext,
  index: number,
  backends: ReplicaBackends,
  logMode: 'truncate' | 'append' = 'truncate',
): Promise<RunningComponent> {
  const { config } = ctx
  const name = replicaName(index)
  const port = replicaPort(config, index)
  const url = `http://127.0.0.1:${port}`
  const env: Record<string, string | undefined> = {
    ...config.baseEnv,
    // Log files are read with tools (jq, pino-pretty): JSON lines unless the user chose otherwise.
    NODE_ENV: config.baseEnv.NODE_ENV ?? 'production',
    // Loopback only: nginx is the way in from outside.
    HOST: '127.0.0.1',
    PORT: String(port),
    REPLICA_ID: name,
    DATABASE_URL: backends.databaseUrl,
    REDIS_URL: backends.redisUrl,
    // The stack's Redis, not one named in the shell: a cluster's seeds, or none.
    REDIS_CLUSTER_NODES: backends.redisClusterNodes,
    CACHE_MODE: config.mode,
    ADMIN_TOKEN: config.adminToken,
  }
  // The stack's own Redis gets the scripts from startRedis; with another Redis, the user decides.
  if (!config.redisUrl) env.REDIS_SCRIPTS = 'preloaded'
  if (config.adminToken === undefined) delete env.ADMIN_TOKEN
  if (backends.redisClusterNodes === undefined) delete env.REDIS_CLUSTER_NODES
  else delete env.REDIS_URL
  const paths = stackPaths(config)
  return launch(ctx, {
    name,
    kind: 'replica',
    port,
    url,
    logFile: logFileOf(config, name),
    logMode,
    command: process.execPath,
    args: [...REPLICA_NODE_FLAGS, paths.apiEntry],
    cwd: dirname(dirname(paths.apiEntry)),
    env,
    ready: async () => (await httpStatus(`${url}/health/ready`)) === 200,
  })
}
