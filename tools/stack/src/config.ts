import { isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StackError } from './errors.js'

/**
 * The API's cache modes, passed to every replica as `CACHE_MODE`. A copy of cache-core's
 * `CACHE_MODES`, because this module may import only `node:` modules (the load generator's image
 * reads it without cache-core, light-modules.test.ts); config.test.ts holds the two equal.
 */
export const CACHE_MODES = ['multi', 'l2', 'l1', 'none'] as const
export type CacheMode = (typeof CACHE_MODES)[number]

/** How nginx spreads reads: in turn, or by key so a key's L1 entry lives on one replica. */
export const LOAD_BALANCING = ['round-robin', 'key-affinity'] as const
export type LoadBalancing = (typeof LOAD_BALANCING)[number]

/** The Redis the stack starts: one server, or a Redis Cluster (REDIS_CLUSTER_NODES). */
export const REDIS_TOPOLOGIES = ['single', 'cluster'] as const
export type RedisTopology = (typeof REDIS_TOPOLOGIES)[number]

/**
 * The stack's Redis Cluster: 3 masters sharing the slots, each with one replica that takes over
 * when it fails. Node i (1-based) listens on `redisPort + i - 1`; the first three start as masters.
 */
export const REDIS_CLUSTER_SHAPE = { masters: 3, replicasPerMaster: 1 } as const
/** Nodes of the stack's Redis Cluster. */
export const REDIS_CLUSTER_NODES =
  REDIS_CLUSTER_SHAPE.masters * (1 + REDIS_CLUSTER_SHAPE.replicasPerMaster)
/** A Redis Cluster node also listens on its port + 10000, for the cluster bus between nodes. */
export const REDIS_CLUSTER_BUS_OFFSET = 10_000

/**
 * What nginx enforces in front of the replicas: rate limits per client address on writes,
 * `/clear-cache` and the operational GETs, requests in progress per address, and the timeouts
 * that cut off slow clients. The same settings are the `STRATA_*` variables of the nginx service
 * in deploy/docker-compose.yml.
 */
export interface NginxLimits {
  /**
   * Apply the per-address limits: write, admin and operational rates, requests in progress
   * (`--rate-limit`, `STRATA_RATE_LIMIT`). @default true
   */
  rateLimit: boolean
  /**
   * Sustained `POST /write` + `/delete` per second and client address (`STRATA_WRITE_RATE`).
   * Each write is a PostgreSQL transaction plus a fence and a publish every replica receives.
   * @default 100
   */
  writeRate: number
  /** Writes beyond the rate a client may send at once before getting 429 (`STRATA_WRITE_BURST`). @default 200 */
  writeBurst: number
  /**
   * `POST /clear-cache` per minute and client address (`STRATA_ADMIN_RATE`): every clear sends
   * all reads to PostgreSQL until the caches refill, and wrong tokens should not be tried at speed.
   * @default 10
   */
  adminRate: number
  /** Clears beyond that rate accepted at once (`STRATA_ADMIN_BURST`). @default 5 */
  adminBurst: number
  /** Seconds a client has to send its whole request header (`STRATA_CLIENT_HEADER_TIMEOUT`). @default 10 */
  clientHeaderTimeout: number
  /** Longest pause, in seconds, while a client sends the body (`STRATA_CLIENT_BODY_TIMEOUT`). @default 10 */
  clientBodyTimeout: number
  /** Longest pause, in seconds, while a client reads the response (`STRATA_SEND_TIMEOUT`). @default 10 */
  sendTimeout: number
  /** Seconds an idle keep-alive client connection stays open (`STRATA_KEEPALIVE_TIMEOUT`). @default 15 */
  keepaliveTimeout: number
  /** Longest pause, in seconds, while nginx waits on a replica (`STRATA_PROXY_TIMEOUT`). @default 30 */
  proxyTimeout: number
  /**
   * Requests in progress at once per client address (`STRATA_CONN_LIMIT`), counted from a
   * complete request header to the end of the response: each pins nginx memory (16 KiB of body
   * buffer, up to 32 KiB of headers) and, once proxied, a replica connection. Idle keep-alive
   * connections are not counted.
   * @default 128
   */
  connLimit: number
  /**
   * `GET /health`, `/cache-stats` and `/metrics` per second and client address, one budget for
   * the three (`STRATA_OPS_RATE`): each costs a replica a PostgreSQL query or several Redis
   * commands that no cache absorbs. Reads of `/read/*` are never limited.
   * @default 10
   */
  opsRate: number
  /** Operational GETs beyond that rate accepted at once (`STRATA_OPS_BURST`). @default 20 */
  opsBurst: number
}

/** Production defaults; docs/security.md gives the reason for each. */
export const NGINX_DEFAULTS: Readonly<NginxLimits> = {
  rateLimit: true,
  writeRate: 100,
  writeBurst: 200,
  adminRate: 10,
  adminBurst: 5,
  clientHeaderTimeout: 10,
  clientBodyTimeout: 10,
  sendTimeout: 10,
  keepaliveTimeout: 15,
  proxyTimeout: 30,
  connLimit: 128,
  opsRate: 10,
  opsBurst: 20,
}

/** The environment variable of each numeric nginx setting (also the compose file's names). */
export const NGINX_ENV: Readonly<Record<Exclude<keyof NginxLimits, 'rateLimit'>, string>> = {
  writeRate: 'STRATA_WRITE_RATE',
  writeBurst: 'STRATA_WRITE_BURST',
  adminRate: 'STRATA_ADMIN_RATE',
  adminBurst: 'STRATA_ADMIN_BURST',
  clientHeaderTimeout: 'STRATA_CLIENT_HEADER_TIMEOUT',
  clientBodyTimeout: 'STRATA_CLIENT_BODY_TIMEOUT',
  sendTimeout: 'STRATA_SEND_TIMEOUT',
  keepaliveTimeout: 'STRATA_KEEPALIVE_TIMEOUT',
  proxyTimeout: 'STRATA_PROXY_TIMEOUT',
  connLimit: 'STRATA_CONN_LIMIT',
  opsRate: 'STRATA_OPS_RATE',
  opsBurst: 'STRATA_OPS_BURST',
}

/** The database every replica uses; created on the stack's first start. */
export const DATABASE_NAME = 'strata'

/** The repository root, found from this file's place in it (tools/stack/src/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '')

/** Everything that decides what the stack starts and where. Built once by `resolveStackConfig`. */
export interface StackConfig {
  /** Repository root: where `apps/api` and `deploy/nginx` are. @default the checkout this file is in */
  rootDir: string
  /** Data, logs and state of the stack (`postgres/`, `redis/`, `nginx/`, `logs/`, `stack.json`). @default `<rootDir>/.data` */
  dataDir: string
  /** Number of API replicas. @default 3 */
  replicas: number
  /** `CACHE_MODE` of every replica. @default 'multi' */
  mode: CacheMode
  /** nginx's routing of reads. @default 'round-robin' */
  lb: LoadBalancing
  /** Port of nginx, the cluster's front door. @default 8005 */
  nginxPort: number
  /** Replica i (1-based) listens on `replicaPortBase + i - 1`. @default 8101 */
  replicaPortBase: number
  /** One redis-server, or a Redis Cluster of {@link REDIS_CLUSTER_NODES} nodes. @default 'single' */
  redisTopology: RedisTopology
  /**
   * Port of the Redis the stack starts (unused with `redisUrl`); a cluster's nodes take this one
   * and the next five, and each of those + 10000 for the cluster bus. @default 6383
   */
  redisPort: number
  /**
   * Memory limit of the Redis the stack starts (redis-server `maxmemory`), with the `noeviction`
   * policy: at the limit writes are refused (503) and reads go on, where an `allkeys-*` policy
   * could evict fences. Sizing: docs/security.md. @default '256mb'
   */
  redisMaxMemory: string
  /** Port of the PostgreSQL the stack starts (unused with `databaseUrl`). @default 5436 */
  postgresPort: number
  /** An existing PostgreSQL to use instead of starting one (`DATABASE_URL`). @default undefined */
  databaseUrl: string | undefined
  /** An existing Redis to use instead of starting one (`REDIS_URL`). @default undefined */
  redisUrl: string | undefined
  /** Passed to every replica as `ADMIN_TOKEN`; without it `/clear-cache` is refused. @default undefined */
  adminToken: string | undefined
  /**
   * Keep PostgreSQL crash-safe (fsync on). Tests turn it off: their data is thrown away and
   * fsync makes `initdb` and every write several times slower on small machines.
   * @default true
   */
  durable: boolean
  /** How long each component may take to become healthy, in milliseconds. @default 60_000 */
  startupTimeoutMs: number
  /** Rate limits and client timeouts of nginx. @default NGINX_DEFAULTS */
  nginx: NginxLimits
  /**
   * Environment every replica starts from; the stack then sets its own variables over it.
   * Lets `LOG_LEVEL`, `L1_CACHE_SIZE` and friends pass through.
   * @default {}
   */
  baseEnv: Readonly<Record<string, string | undefined>>
}

/** Fills defaults and checks every value once, naming the option and the bad value. */
export function resolveStackConfig(
  options: Partial<Omit<StackConfig, 'nginx'>> & { nginx?: Partial<NginxLimits> } = {},
): StackConfig {
  const rootDir = options.rootDir ?? REPO_ROOT
  const config: StackConfig = {
    rootDir,
    dataDir: options.dataDir ?? resolve(rootDir, '.data'),
    replicas: options.replicas ?? 3,
    mode: options.mode ?? 'multi',
    lb: options.lb ?? 'round-robin',
    nginxPort: options.nginxPort ?? 8005,
    replicaPortBase: options.replicaPortBase ?? 8101,
    redisTopology: options.redisTopology ?? 'single',
    redisPort: options.redisPort ?? 6383,
    redisMaxMemory: options.redisMaxMemory ?? '256mb',
    postgresPort: options.postgresPort ?? 5436,
    databaseUrl: options.databaseUrl,
    redisUrl: options.redisUrl,
    adminToken: options.adminToken,
    durable: options.durable ?? true,
    startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
    baseEnv: options.baseEnv ?? {},
    nginx: { ...NGINX_DEFAULTS, ...options.nginx },
  }
  validate(config)
  return config
}

function validate(config: StackConfig): void {
  const bad = (option: string, value: unknown, why: string) =>
    new StackError('E_BAD_ARGUMENT', `${option}: ${why} (got ${JSON.stringify(value)})`)

  if (!isAbsolute(config.dataDir)) throw bad('dataDir', config.dataDir, 'must be an absolute path')
  if (!Number.isInteger(config.replicas) || config.replicas < 1 || config.replicas > 64) {
    throw bad('--replicas', config.replicas, 'must be a whole number from 1 to 64')
  }
  if (!CACHE_MODES.includes(config.mode))
    throw bad('--mode', config.mode, `must be one of ${CACHE_MODES.join(', ')}`)
  if (!LOAD_BALANCING.includes(config.lb))
    throw bad('--lb', config.lb, `must be one of ${LOAD_BALANCING.join(', ')}`)
  if (!REDIS_TOPOLOGIES.includes(config.redisTopology))
    throw bad('--redis', config.redisTopology, `must be one of ${REDIS_TOPOLOGIES.join(', ')}`)
  if (config.redisTopology === 'cluster' && config.redisUrl)
    throw bad('--redis', 'cluster', 'starts its own Redis Cluster; unset REDIS_URL')
  if (!/^[1-9]\d*(kb|mb|gb)?$/i.test(config.redisMaxMemory))
    throw bad('--redis-max-memory', config.redisMaxMemory, 'must be a size such as 512mb or 2gb')
  const ports: Array<[string, number]> = [
    ['--nginx-port', config.nginxPort],
    ['--replica-port-base', config.replicaPortBase],
    ['--redis-port', config.redisPort],
    ['--postgres-port', config.postgresPort],
  ]
  for (const [option, port] of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw bad(option, port, 'must be a port from 1 to 65535')
  }
  const lastReplicaPort = config.replicaPortBase + config.replicas - 1
  if (lastReplicaPort > 65_535) {
    throw bad(
      '--replica-port-base',
      config.replicaPortBase,
      `leaves no room for ${config.replicas} replicas`,
    )
  }
  const lastRedisPort = Math.max(...redisBoundPorts(config))
  if (lastRedisPort > 65_535)
    throw bad('--redis-port', config.redisPort, `leaves no room for the cluster's ports`)
  // Only the ports the stack will really bind can clash: an external Redis's port is not ours.
  const bound: Array<[string, number]> = [['--nginx-port', config.nginxPort]]
  if (!config.redisUrl)
    for (const port of redisBoundPorts(config)) bound.push(['--redis-port', port])
  if (!config.databaseUrl) bound.push(['--postgres-port', config.postgresPort])
  for (const [option, port] of bound) {
    if (port >= config.replicaPortBase && port <= lastReplicaPort) {
      throw bad(
        option,
        port,
        `falls in the replica ports ${config.replicaPortBase}-${lastReplicaPort}`,
      )
    }
  }
  const seen = new Map<number, string>()
  for (const [option, port] of bound) {
    const other = seen.get(port)
    if (other) throw bad(option, port, `is also given to ${other}`)
    seen.set(port, option)
  }
  for (const [setting, variable] of Object.entries(NGINX_ENV)) {
    const value = config.nginx[setting as keyof typeof NGINX_ENV]
    if (!Number.isInteger(value) || value < 1 || value > 1_000_000)
      throw bad(variable, value, 'must be a whole number from 1 to 1000000')
  }
  if (!Number.isFinite(config.startupTimeoutMs) || config.startupTimeoutMs <= 0) {
    throw bad(
      'startupTimeoutMs',
      config.startupTimeoutMs,
      'must be a positive number of milliseconds',
    )
  }
}

/** The ports of the Redis the stack starts: one, or one per cluster node. */
export const redisPorts = (config: Pick<StackConfig, 'redisPort' | 'redisTopology'>): number[] =>
  config.redisTopology === 'cluster'
    ? Array.from({ length: REDIS_CLUSTER_NODES }, (_, index) => config.redisPort + index)
    : [config.redisPort]

/** Every port the stack's Redis binds: a cluster's nodes listen on a bus port too. */
export const redisBoundPorts = (
  config: Pick<StackConfig, 'redisPort' | 'redisTopology'>,
): number[] => {
  const ports = redisPorts(config)
  return config.redisTopology === 'cluster'
    ? [...ports, ...ports.map((port) => port + REDIS_CLUSTER_BUS_OFFSET)]
    : ports
}

/** The name, log file and directory name of Redis Cluster node `index` (1-based). */
export const redisNodeName = (index: number): string => `redis-${index}`

/** The port replica `index` (1-based) listens on. */
export const replicaPort = (config: StackConfig, index: number): number =>
  config.replicaPortBase + index - 1

/** `REPLICA_ID` of replica `index` (1-based). */
export const replicaName = (index: number): string => `replica-${index}`

/** Where each part of the stack keeps its files, all under `dataDir`. */
export function stackPaths(config: Pick<StackConfig, 'dataDir' | 'rootDir'>) {
  const { dataDir, rootDir } = config
  return {
    dataDir,
    /** PostgreSQL's cluster (PGDATA), owned by the `postgres` user when we run as root. */
    postgresData: resolve(dataDir, 'postgres'),
    /** redis-server's working directory (no persistence is configured; it stays empty). */
    redisDir: resolve(dataDir, 'redis'),
    /** nginx's prefix: the rendered nginx.conf, its pid file and temp directories. */
    nginxRunDir: resolve(dataDir, 'nginx'),
    logsDir: resolve(dataDir, 'logs'),
    stateFile: resolve(dataDir, 'stack.json'),
    /** Passwords of the stack's PostgreSQL and Redis (mode 600); see credentials.ts. */
    credentialsFile: resolve(dataDir, 'credentials.json'),
    nginxConfDir: resolve(rootDir, 'deploy/nginx'),
    nginxTemplate: resolve(rootDir, 'deploy/nginx/local.conf.template'),
    /** The `${STRATA_*}` templates both deployments render (rate limits, client timeouts). */
    nginxTemplatesDir: resolve(rootDir, 'deploy/nginx/templates'),
    apiEntry: resolve(rootDir, 'apps/api/dist/server.js'),
  }
}

/** The log file of a component (`postgres`, `redis`, `replica-2`, `nginx`). */
export const logFileOf = (
  config: Pick<StackConfig, 'dataDir' | 'rootDir'>,
  component: string,
): string => resolve(stackPaths(config).logsDir, `${component}.log`)
