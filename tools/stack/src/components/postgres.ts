import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { redactUrl } from '@strata/api/redact'
import { isRoot, lookupUser, type RunAs } from '@strata/test-servers'
import { DATABASE_NAME, logFileOf, type StackConfig, stackPaths } from '../config.js'
import { API_DATABASE_USER, type StackCredentials } from '../credentials.js'
import { stopDaemon } from '../daemons.js'
import { componentFailed, StackError } from '../errors.js'
import { postgresAnswers, psql } from '../probes.js'
import { launch, type RunningComponent, runToLog, STOP, type StartContext } from './launch.js'

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
    // Rows' commit times, so the consistency SLI dates a version by its COMMIT, not by its
    // transaction's start (docs/operations.md, "Consistency SLI").
    '-c',
    'track_commit_timestamp=on',
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
