import { type ChildProcess, spawnSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { redactUrl } from '@strata/api/redact'
import { isRoot, lookupUser, type RunAs, redisUserDirective } from '@strata/test-servers'
import type { Binaries } from './binaries.js'
import { logFileOf, replicaName, replicaPort, type StackConfig, stackPaths } from './config.js'
import {
  API_DATABASE_USER,
  API_REDIS_USER,
  apiUserAclRules,
  type StackConnectionUrls,
  type StackCredentials,
} from './credentials.js'
import {
  type StartedDaemon,
  type StopOptions,
  type StopOutcome,
  startDaemon,
  stopDaemon,
} from './daemons.js'
import { componentFailed, StackError } from './errors.js'
import { openLogFile } from './log-files.js'
import { writeNginxConfig } from './nginx-config.js'
import {
  acceptsConnections,
  httpStatus,
  postgresAnswers,
  psql,
  redisAnswersPing,
  waitFor,
} from './probes.js'
import type { Reporter } from './reporter.js'
import type { ComponentKind, ComponentState } from './state.js'

/** What every component start needs. */
export interface StartContext {
  config: StackConfig
  binaries: Binaries
  reporter: Reporter
  /** Passwords of the PostgreSQL and Redis the stack starts (unused for external ones). */
  credentials: StackCredentials
  /** Their URLs, credentials included. */
  urls: StackConnectionUrls
  /** Aborts a start-up that is waiting for a component (Ctrl-C during `pnpm start`). */
  signal?: AbortSignal | undefined
  /**
   * Called as soon as a component's process exists, before it is healthy, so it is on record
   * (and `stack down` can stop it) even if this process dies while waiting.
   */
  onSpawned?: ((component: ComponentState) => void) | undefined
}

/** A component this process started: its recorded state and the child process handle. */
export interface RunningComponent {
  state: ComponentState
  child: ChildProcess
}

/** The database every replica uses; created on first start. */
export const DATABASE_NAME = 'strata'

/** Start order; stopping goes the other way: nginx, replicas, Redis, PostgreSQL. */
export const START_ORDER: readonly ComponentKind[] = ['postgres', 'redis', 'replica', 'nginx']

/** Each component's graceful signal and patience before SIGKILL. */
const STOP: Record<ComponentKind, StopOptions> = {
  // SIGQUIT: finish in-flight requests, then exit (SIGTERM would drop them).
  nginx: { signal: 'SIGQUIT', graceMs: 10_000 },
  // The API drains on SIGTERM (readiness 503, in-flight requests finish, SHUTDOWN_TIMEOUT 10 s).
  replica: { signal: 'SIGTERM', graceMs: 20_000 },
  redis: { signal: 'SIGTERM', graceMs: 10_000 },
  // SIGINT is PostgreSQL's fast shutdown: it disconnects clients instead of waiting for them.
  postgres: { signal: 'SIGINT', graceMs: 20_000 },
}

/**
 * Starts PostgreSQL on `postgresPort` with its cluster in `<data-dir>/postgres`, running `initdb`
 * the first time. Logins need a password (scram-sha-256, loopback TCP only): the `postgres`
 * superuser's is set before every start, and the replicas log in as the `strata` role, which
 * owns the `strata` database and nothing else. A restart passes `startLogMode: 'append'`, so
 * the log keeps what came before.
 */
export async function startPostgres(
  ctx: StartContext,
  startLogMode: 'truncate' | 'append' = 'truncate',
): Promise<RunningComponent> {
  const { config, reporter, credentials } = ctx
  const bin = ctx.binaries.postgres
  if (!bin) throw new Error('startPostgres called without PostgreSQL binaries')
  const name = 'postgres'
  const logFile = logFileOf(config, name)
  const dataDir = stackPaths(config).postgresData
  // PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user.
  const user = isRoot() ? lookupUser('postgres') : undefined
  if (user) assertReachable(dirname(dataDir), user)

  let logMode = startLogMode
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    reporter.step(`PostgreSQL: creating a cluster in ${dataDir} (initdb, first run only)`)
    mkdirSync(dataDir, { recursive: true })
    if (user) chownSync(dataDir, user.uid, user.gid)
    chmodSync(dataDir, 0o700)
    const initdbArgs = ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C']
    if (!config.durable) initdbArgs.push('--no-sync')
    runToLog(bin.initdb, initdbArgs, logFile, user, name)
    logMode = 'append'
  }
  // Before every start, so a cluster from an older stack (trust authentication) or a replaced
  // credentials file is brought in line: pg_hba.conf, then the passwords (single-user mode,
  // which needs no login and sends nothing over the network).
  writePgHba(dataDir, user)
  setPostgresPasswords(bin.postgres, dataDir, credentials, logFile, user)

  const args = [
    '-D',
    dataDir,
    '-p',
    String(config.postgresPort),
    '-c',
    'listen_addresses=127.0.0.1',
    // TCP only: no socket file to place somewhere the postgres user may write.
    '-c',
    'unix_socket_directories=',
    '-c',
    'password_encryption=scram-sha-256',
    '-c',
    `max_connections=${maxConnections(config)}`,
  ]
  if (!config.durable)
    args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off')

  const port = config.postgresPort
  const password = credentials.postgres.superuserPassword
  const component = await launch(ctx, {
    name,
    kind: 'postgres',
    port,
    url: redactUrl(ctx.urls.databaseUrl),
    logFile,
    logMode,
    command: bin.postgres,
    args,
    cwd: dataDir,
    env: { PATH: '/usr/bin:/bin', LANG: 'C' },
    user,
    ready: () => postgresAnswers(bin.psql, port, password),
  })
  try {
    const exists = await psql(
      bin.psql,
      { port, password },
      'postgres',
      `SELECT 1 FROM pg_database WHERE datname = '${DATABASE_NAME}'`,
    )
    await psql(
      bin.psql,
      { port, password },
      'postgres',
      exists === '1'
        ? `ALTER DATABASE ${DATABASE_NAME} OWNER TO ${API_DATABASE_USER}`
        : `CREATE DATABASE ${DATABASE_NAME} OWNER ${API_DATABASE_USER}`,
    )
    // Tables an older stack created as the superuser become the API role's.
    await psql(bin.psql, { port, password }, DATABASE_NAME, TAKE_OVER_TABLES)
  } catch (error) {
    await stopDaemon(component.state, STOP.postgres)
    throw componentFailed(
      name,
      `could not prepare database ${DATABASE_NAME}: ${(error as Error).message}`,
      logFile,
      error,
    )
  }
  return component
}

/** Gives the API role every table in `public` that another role owns. */
const TAKE_OVER_TABLES = `DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables
           WHERE schemaname = 'public' AND tableowner <> '${API_DATABASE_USER}' LOOP
    EXECUTE format('ALTER TABLE public.%I OWNER TO ${API_DATABASE_USER}', t.tablename);
  END LOOP;
END $$`

/** Password logins over loopback TCP only; there is no Unix socket (see the start arguments). */
function writePgHba(dataDir: string, user: RunAs | undefined): void {
  const file = join(dataDir, 'pg_hba.conf')
  writeFileSync(
    file,
    '# Written by the Strata stack runner before every start; edits are overwritten.\n' +
      '# Every login needs a password (SCRAM), and only loopback TCP is accepted.\n' +
      'host all all 127.0.0.1/32 scram-sha-256\n' +
      'host all all ::1/128      scram-sha-256\n',
    { mode: 0o600 },
  )
  if (user) chownSync(file, user.uid, user.gid)
}

/**
 * Sets the superuser's password and creates or updates the API role, in PostgreSQL's
 * single-user mode: the server is not running yet, so nothing has to log in. The statements
 * go through stdin, never the command line, and nothing is echoed to the log.
 */
function setPostgresPasswords(
  postgresBinary: string,
  dataDir: string,
  credentials: StackCredentials,
  logFile: string,
  user: RunAs | undefined,
): void {
  const { superuserPassword, apiPassword } = credentials.postgres
  // One statement per line: single-user mode ends a statement at each newline.
  const statements = [
    `ALTER ROLE postgres PASSWORD '${superuserPassword}'`,
    `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${API_DATABASE_USER}') THEN CREATE ROLE ${API_DATABASE_USER}; END IF; END $$`,
    `ALTER ROLE ${API_DATABASE_USER} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '${apiPassword}'`,
  ]
  const result = spawnSync(
    postgresBinary,
    [
      '--single',
      '-D',
      dataDir,
      '-c',
      'unix_socket_directories=',
      '-c',
      'log_statement=none',
      'postgres',
    ],
    { input: `${statements.join('\n')}\n`, encoding: 'utf8', ...(user ?? {}) },
  )
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
  if (result.status !== 0 || /\b(ERROR|FATAL|PANIC):/.test(output)) {
    // Only PostgreSQL's messages, which never contain the statements.
    const problem = output
      .split('\n')
      .filter((line) => /\b(ERROR|FATAL|PANIC|DETAIL|HINT):/.test(line))
      .join('\n')
    throw componentFailed(
      'postgres',
      `could not set the passwords in single-user mode (exit ${result.status ?? result.signal}):\n${problem}`,
      logFile,
    )
  }
}

/**
 * Room for every replica's full pool (DB_POOL_MAX_SIZE, default 10) plus psql and a margin,
 * and never below PostgreSQL's own default of 100.
 */
function maxConnections(config: StackConfig): number {
  const pool = Number(config.baseEnv.DB_POOL_MAX_SIZE ?? 10) || 10
  return Math.max(100, config.replicas * (pool + 5) + 20)
}

/**
 * Starts redis-server on `redisPort`, in memory only (the data is a cache and the bus), with two
 * users: `default` (every command) and `strata-api` (Strata's keys, channel and commands only,
 * as deploy/redis/api-user.acl says). Their passwords are in redis.conf as SHA-256 hashes.
 * A restart passes `logMode: 'append'`, so the log keeps what came before.
 */
export async function startRedis(
  ctx: StartContext,
  logMode: 'truncate' | 'append' = 'truncate',
): Promise<RunningComponent> {
  const { config, credentials } = ctx
  const binary = ctx.binaries.redisServer
  if (!binary) throw new Error('startRedis called without redis-server')
  const dir = stackPaths(config).redisDir
  mkdirSync(dir, { recursive: true })
  const confFile = join(dir, 'redis.conf')
  const directives = [
    redisUserDirective({
      name: 'default',
      password: credentials.redis.adminPassword,
      rules: '~* &* +@all',
    }),
    redisUserDirective({
      name: API_REDIS_USER,
      password: credentials.redis.apiPassword,
      rules: apiUserAclRules(config.rootDir),
    }),
  ]
  writeFileSync(
    confFile,
    `# Written by the Strata stack runner before every start; edits are overwritten.\n${directives.join('\n')}\n`,
    { mode: 0o600 },
  )
  chmodSync(confFile, 0o600)
  const port = config.redisPort
  const auth = { user: 'default', password: credentials.redis.adminPassword }
  return launch(ctx, {
    name: 'redis',
    kind: 'redis',
    port,
    url: redactUrl(ctx.urls.redisUrl),
    logFile: logFileOf(config, 'redis'),
    logMode,
    command: binary,
    args: [
      confFile,
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      // Bounded: one client could otherwise fill the machine with cached 1 MiB values. At the
      // limit, writes are refused (their fence cannot be stored) and reads fall through.
      '--maxmemory',
      config.redisMaxMemory,
      '--maxmemory-policy',
      'noeviction',
    ],
    cwd: dir,
    env: { PATH: '/usr/bin:/bin' },
    ready: () => redisAnswersPing(port, auth),
  })
}

/** Where the replicas find their database and Redis. */
export interface ReplicaBackends {
  databaseUrl: string
  redisUrl: string
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
    CACHE_MODE: config.mode,
    ADMIN_TOKEN: config.adminToken,
  }
  if (config.adminToken === undefined) delete env.ADMIN_TOKEN
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

/** Renders the nginx config for the replicas, checks it with `nginx -t`, starts nginx. */
export async function startNginx(ctx: StartContext): Promise<RunningComponent> {
  const { config } = ctx
  const paths = stackPaths(config)
  const name = 'nginx'
  const logFile = logFileOf(config, name)
  // access.log and error.log; nginx.log itself holds what nginx prints before it opens them.
  const logDir = join(paths.logsDir, 'nginx')
  mkdirSync(paths.nginxRunDir, { recursive: true })
  mkdirSync(logDir, { recursive: true })
  const replicaPorts = Array.from({ length: config.replicas }, (_, i) => replicaPort(config, i + 1))
  const confFile = writeNginxConfig({
    template: paths.nginxTemplate,
    templatesDir: paths.nginxTemplatesDir,
    limits: config.nginx,
    listenPort: config.nginxPort,
    runDir: paths.nginxRunDir,
    logDir,
    confDir: paths.nginxConfDir,
    replicaPorts,
    lb: config.lb,
  })
  // `-e`: nginx opens its compiled-in error log (/var/log/nginx) before reading the config,
  // which fails without root; point it at ours from the first line.
  const errorLog = join(logDir, 'error.log')
  const args = ['-p', paths.nginxRunDir, '-c', confFile, '-e', errorLog]
  runToLog(ctx.binaries.nginx, ['-t', '-q', ...args], logFile, undefined, name)

  const port = config.nginxPort
  const url = `http://127.0.0.1:${port}`
  return launch(ctx, {
    name,
    kind: 'nginx',
    port,
    url,
    logFile,
    extraLogFiles: [errorLog],
    logMode: 'append',
    command: ctx.binaries.nginx,
    args,
    cwd: paths.nginxRunDir,
    env: { PATH: '/usr/bin:/bin' },
    ready: async () => (await httpStatus(`${url}/health/live`)) === 200,
  })
}

/** Stops one component with its own graceful signal. */
export const stopComponent = (component: ComponentState): Promise<StopOutcome> =>
  stopDaemon(component, STOP[component.kind])

/**
 * Stops components in the safe order: nginx first (no new traffic), then the replicas together
 * (each drains), then Redis and PostgreSQL, which the replicas needed until they were gone.
 */
export async function stopComponents(
  components: readonly ComponentState[],
  reporter: Reporter,
): Promise<void> {
  for (const kind of [...START_ORDER].reverse()) {
    const group = components.filter((component) => component.kind === kind)
    await Promise.all(
      group.map(async (component) => {
        const started = Date.now()
        const outcome = await stopComponent(component)
        const took = `${((Date.now() - started) / 1000).toFixed(1)} s`
        if (outcome === 'stopped')
          reporter.info(`stopped ${component.name} (pid ${component.pid}, ${took})`)
        else if (outcome === 'killed')
          reporter.warn(
            `${component.name} (pid ${component.pid}) ignored ${STOP[kind].signal}; killed it`,
          )
        else reporter.info(`${component.name} (pid ${component.pid}) was not running`)
      }),
    )
  }
}

/**
 * Whether a running component answers like a healthy one, for `status`. Without the stack's
 * credentials (the file was removed), accepting connections is the best evidence left.
 */
export async function isHealthy(
  component: ComponentState,
  psqlBinary: string | undefined,
  credentials: StackCredentials | undefined,
): Promise<boolean> {
  switch (component.kind) {
    case 'postgres':
      // Without psql (removed since start-up), the same fallback.
      return psqlBinary && credentials
        ? postgresAnswers(psqlBinary, component.port, credentials.postgres.superuserPassword)
        : acceptsConnections(component.port)
    case 'redis':
      return credentials
        ? redisAnswersPing(component.port, {
            user: 'default',
            password: credentials.redis.adminPassword,
          })
        : acceptsConnections(component.port)
    case 'replica':
      return (await httpStatus(`${component.url}/health/ready`)) === 200
    case 'nginx':
      return (await httpStatus(`${component.url}/health/live`)) === 200
  }
}

interface LaunchSpec {
  name: string
  kind: ComponentKind
  port: number
  url: string
  logFile: string
  /** More logs worth showing on failure (nginx's error.log). */
  extraLogFiles?: string[]
  logMode: 'truncate' | 'append'
  command: string
  args: string[]
  cwd: string
  env: Record<string, string | undefined>
  user?: RunAs | undefined
  ready: () => Promise<boolean>
}

/** Starts a daemon and waits until it is healthy; on failure kills it and explains with its log. */
async function launch(ctx: StartContext, spec: LaunchSpec): Promise<RunningComponent> {
  const started = Date.now()
  ctx.reporter.step(`Starting ${spec.name} on port ${spec.port}`)
  let daemon: StartedDaemon
  try {
    daemon = await startDaemon({ ...spec })
  } catch (error) {
    throw componentFailed(
      spec.name,
      (error as Error).message,
      [spec.logFile, ...(spec.extraLogFiles ?? [])],
      error,
    )
  }
  const state: ComponentState = {
    name: spec.name,
    kind: spec.kind,
    pid: daemon.pid,
    startTime: daemon.startTime,
    port: spec.port,
    url: spec.url,
    logFile: spec.logFile,
  }
  ctx.onSpawned?.(state)
  try {
    await waitFor(spec.ready, {
      timeoutMs: ctx.config.startupTimeoutMs,
      signal: ctx.signal,
      failFast: () => exitReason(daemon.child),
    })
  } catch (error) {
    await stopDaemon(state, { signal: 'SIGKILL', graceMs: 0 })
    if (error instanceof StackError) throw error
    throw componentFailed(
      spec.name,
      (error as Error).message,
      [spec.logFile, ...(spec.extraLogFiles ?? [])],
      error,
    )
  }
  ctx.reporter.info(
    `${spec.name} ready at ${spec.url} (pid ${daemon.pid}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  )
  return { state, child: daemon.child }
}

/** "exited with code 1" once the child has exited, else undefined. */
export function exitReason(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exited with code ${child.exitCode}`
  if (child.signalCode !== null) return `was killed by ${child.signalCode}`
  return undefined
}

/** Runs a one-shot command (initdb, nginx -t) with its output in the component's log. */
function runToLog(
  command: string,
  args: string[],
  logFile: string,
  user: RunAs | undefined,
  component: string,
): void {
  const fd = openLogFile(logFile, 'truncate')
  try {
    const result = spawnSync(command, args, { stdio: ['ignore', fd, fd], ...(user ?? {}) })
    if (result.error)
      throw componentFailed(component, `could not run ${command}: ${result.error.message}`, logFile)
    if (result.status !== 0) {
      const shown = `${command.split('/').pop()} ${args.join(' ')}`
      throw componentFailed(
        component,
        `\`${shown}\` failed with exit status ${result.status ?? result.signal}`,
        logFile,
      )
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * PostgreSQL runs as `postgres` when we are root, and must be able to enter every directory above
 * its data directory. A checkout under /root (mode 700) is the usual trap: say so instead of
 * letting initdb fail with "permission denied".
 */
function assertReachable(dir: string, user: RunAs): void {
  for (let current = dir; ; current = dirname(current)) {
    if (existsSync(current)) {
      const stat = statSync(current)
      const mode = stat.mode
      const canEnter =
        (stat.uid === user.uid && mode & 0o100) ||
        (stat.gid === user.gid && mode & 0o010) ||
        mode & 0o001
      if (!canEnter) {
        throw new StackError(
          'E_COMPONENT_FAILED',
          `postgres: PostgreSQL runs as the "postgres" user, which cannot enter ${current} (mode ${(mode & 0o777).toString(8)}).\n` +
            `Use a data directory it can reach (for example --data-dir /var/tmp/strata) or run: chmod o+x ${current}`,
        )
      }
    }
    if (current === dirname(current)) return
  }
}
