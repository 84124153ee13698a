import { resolve } from 'node:path'
import { setting } from './cli-support.js'
import { NGINX_ENV, type NginxLimits, resolveStackConfig, type StackConfig } from './config.js'
import { StackError } from './errors.js'
import { flag, int, parseOptions, text, UsageError } from './options.js'

/** The CLI's commands. */
export const COMMANDS = ['start', 'up', 'down', 'status', 'help'] as const
export type Command = (typeof COMMANDS)[number]

/** The environment variables the CLI reads. Only this function reads `process.env`. */
export interface CliEnvironment {
  databaseUrl: string | undefined
  redisUrl: string | undefined
  adminToken: string | undefined
  /** `STRATA_RATE_LIMIT` and the numeric nginx settings (`STRATA_WRITE_RATE`, …), as given. */
  nginx: Readonly<Record<string, string | undefined>>
  /** Where the user ran `pnpm …`: pnpm runs root scripts in the root, so relative paths use this. */
  invocationDir: string
  /** Handed to the replicas, so `LOG_LEVEL`, `L1_CACHE_SIZE`, … set in the shell reach them. */
  all: Readonly<Record<string, string | undefined>>
}

/** Reads the CLI's environment once. Empty variables count as unset, as shells often produce them. */
export function readCliEnvironment(): CliEnvironment {
  return {
    databaseUrl: setting('DATABASE_URL'),
    redisUrl: setting('REDIS_URL'),
    adminToken: setting('ADMIN_TOKEN'),
    nginx: Object.fromEntries(
      ['STRATA_RATE_LIMIT', ...Object.values(NGINX_ENV)].map((name) => [name, setting(name)]),
    ),
    invocationDir: setting('INIT_CWD') ?? process.cwd(),
    all: { ...process.env },
  }
}

/** A parsed command line: the command and the stack it is about. */
export interface CommandLine {
  command: Command
  config: StackConfig
}

const OPTIONS = {
  replicas: int(),
  mode: text(),
  lb: text(),
  redis: text(),
  'nginx-port': int(),
  'replica-port-base': int(),
  'redis-port': int(),
  'postgres-port': int(),
  'redis-max-memory': text(),
  'data-dir': text(),
  'rate-limit': text(),
  help: flag('h'),
} as const

/**
 * Parses `stack <command> [--flag value | --flag=value]…` and the environment into a config.
 * @example parseCommandLine(['up', '--replicas', '5', '--lb=key-affinity'], readCliEnvironment())
 */
export function parseCommandLine(argv: readonly string[], env: CliEnvironment): CommandLine {
  let parsed: ReturnType<typeof parseOptions<typeof OPTIONS>>
  try {
    parsed = parseOptions(argv, OPTIONS, argv.length)
  } catch (error) {
    if (error instanceof UsageError) throw new StackError('E_BAD_ARGUMENT', error.message)
    throw error
  }
  const { values, positionals } = parsed
  const [given, extra] = positionals
  if (extra !== undefined)
    throw new StackError(
      'E_BAD_ARGUMENT',
      `unexpected argument ${JSON.stringify(extra)} (see --help)`,
    )
  if (given !== undefined && !COMMANDS.includes(given as Command)) {
    throw new StackError(
      'E_BAD_ARGUMENT',
      `unknown command ${JSON.stringify(given)}; expected one of ${COMMANDS.join(', ')}`,
    )
  }
  const dataDir = values['data-dir']
  // Only what was given: resolveStackConfig fills in the rest.
  const chosen = Object.fromEntries(
    Object.entries({
      replicas: values.replicas,
      mode: values.mode,
      lb: values.lb,
      redisTopology: values.redis,
      nginxPort: values['nginx-port'],
      replicaPortBase: values['replica-port-base'],
      redisPort: values['redis-port'],
      postgresPort: values['postgres-port'],
      redisMaxMemory: values['redis-max-memory'],
      dataDir: dataDir === undefined ? undefined : resolve(env.invocationDir, dataDir),
    }).filter(([, value]) => value !== undefined),
  ) as Partial<Pick<StackConfig, 'replicas' | 'mode' | 'lb' | 'redisTopology' | 'dataDir'>>
  const config = resolveStackConfig({
    ...chosen,
    databaseUrl: env.databaseUrl,
    redisUrl: env.redisUrl,
    adminToken: env.adminToken,
    baseEnv: env.all,
    nginx: nginxLimitsFrom(values['rate-limit'], env.nginx),
  })
  return { command: values.help ? 'help' : ((given as Command | undefined) ?? 'help'), config }
}

/** The nginx settings given by `--rate-limit` and the `STRATA_*` variables; the rest default. */
function nginxLimitsFrom(
  flag: string | undefined,
  variables: Readonly<Record<string, string | undefined>>,
): Partial<NginxLimits> {
  const limits: Partial<NginxLimits> = {}
  const [option, onOff] =
    flag !== undefined ? ['--rate-limit', flag] : ['STRATA_RATE_LIMIT', variables.STRATA_RATE_LIMIT]
  if (onOff !== undefined) {
    if (onOff !== 'on' && onOff !== 'off')
      throw new StackError(
        'E_BAD_ARGUMENT',
        `${option}: expected on or off (got ${JSON.stringify(onOff)})`,
      )
    limits.rateLimit = onOff === 'on'
  }
  for (const [setting, variable] of Object.entries(NGINX_ENV)) {
    const raw = variables[variable]
    if (raw === undefined) continue
    if (!/^\d+$/.test(raw))
      throw new StackError(
        'E_BAD_ARGUMENT',
        `${variable}: expected a whole number (got ${JSON.stringify(raw)})`,
      )
    limits[setting as keyof typeof NGINX_ENV] = Number(raw)
  }
  return limits
}

/** The text of `--help`. */
export const HELP = `Strata local stack: PostgreSQL, Redis, N API replicas and nginx on this machine.

Usage:
  pnpm start [options]            run the stack in the foreground; Ctrl-C stops it
  pnpm stack up [options]         start it in the background; returns once everything is healthy
  pnpm stack status [--data-dir]  show each component's pid, port and health
  pnpm stack down [--data-dir]    stop everything (nginx, replicas, Redis, PostgreSQL, in that order)

Options:
  --replicas N             API replicas to run (default 3)
  --mode MODE              cache mode of every replica: multi | l2 | l1 | none (default multi)
  --lb POLICY              how nginx routes reads: round-robin | key-affinity (default round-robin)
  --redis single|cluster   one redis-server, or a Redis Cluster of 3 masters + 3 replicas on
                           --redis-port and the 5 ports after it (and each + 10000, its bus);
                           the replicas then get REDIS_CLUSTER_NODES (default single)
  --nginx-port PORT        nginx, the cluster's entry point (default 8005)
  --replica-port-base PORT replica i listens on PORT+i-1 (default 8101)
  --redis-port PORT        Redis started by the stack; a cluster's first node (default 6383)
  --postgres-port PORT     PostgreSQL started by the stack (default 5436)
  --redis-max-memory SIZE  maxmemory of the Redis the stack starts, e.g. 2gb (default 256mb;
                           at the limit writes get 503: size it to the cached data)
  --data-dir DIR           data, logs, state and generated passwords (default .data in the repository)
  --rate-limit on|off      nginx's per-address limits: rates of writes, /clear-cache and
                           /health, /cache-stats, /metrics; requests in progress
                           (default on; off for load tests)
  -h, --help               show this help

Environment:
  DATABASE_URL   use this PostgreSQL instead of starting one
  REDIS_URL      use this Redis instead of starting one
  ADMIN_TOKEN    passed to every replica; POST /clear-cache is refused without it
  Other variables (LOG_LEVEL, L1_CACHE_SIZE, L1_CACHE_TTL, L2_CACHE_TTL, DB_POOL_MAX_SIZE,
  ACCESS_LOG, ...) pass through to the replicas.

nginx limits (environment; whole numbers; the defaults suit production, see README Security):
  STRATA_RATE_LIMIT             on | off, as --rate-limit (default on)
  STRATA_WRITE_RATE             POST /write + /delete per second and client address (default 100)
  STRATA_WRITE_BURST            writes accepted at once above that rate (default 200)
  STRATA_ADMIN_RATE             POST /clear-cache per minute and client address (default 10)
  STRATA_ADMIN_BURST            clears accepted at once above that rate (default 5)
  STRATA_CLIENT_HEADER_TIMEOUT  seconds to send the whole request header (default 10)
  STRATA_CLIENT_BODY_TIMEOUT    longest pause in seconds while sending a body (default 10)
  STRATA_SEND_TIMEOUT           longest pause in seconds while reading a response (default 10)
  STRATA_KEEPALIVE_TIMEOUT      seconds an idle client connection stays open (default 15)
  STRATA_PROXY_TIMEOUT          longest pause in seconds waiting on a replica (default 30)
  STRATA_CONN_LIMIT             requests in progress at once per client address (default 128)
  STRATA_OPS_RATE               GET /health, /cache-stats, /metrics per second and address (default 10)
  STRATA_OPS_BURST              of those, accepted at once above that rate (default 20)
  Over the limit: 429 {"success":false,"error":{"code":"RATE_LIMITED",...}} with Retry-After.

Credentials: the PostgreSQL and Redis the stack starts take passwords, generated on the first
start into <data-dir>/credentials.json (mode 600) and never printed; the replicas log in as
PostgreSQL role "strata" and Redis ACL user "strata-api" (deploy/redis/api-user.acl).

Logs: <data-dir>/logs/<component>.log (postgres, redis or redis-1..6, replica-1..N, nginx).
The API is built first when apps/api/dist is missing or older than its sources.
`
