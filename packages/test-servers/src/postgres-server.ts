import { execFile } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  findBinary,
  freePort,
  isRoot,
  lookupUser,
  postgresBinDirs,
  runAs,
  serverProcess,
  spawnAs,
} from './processes.js'

/** How a test's PostgreSQL authenticates clients. */
export interface PostgresServerOptions {
  /**
   * Password of the `postgres` superuser. When set, every connection must present it
   * (`scram-sha-256`); otherwise loopback connections are trusted. @default undefined
   */
  password?: string
}

/** A PostgreSQL cluster owned by a test: `initdb` into a temp dir, stopped and removed by `stop()`. */
export interface PostgresServer {
  readonly port: number
  /**
   * `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication on loopback), or
   * `postgres://postgres:<password>@…` when a password was set.
   */
  readonly url: string
  /** Stops the server and removes its data. */
  stop(): Promise<void>
  /** Shuts the server down (fast shutdown: clients are disconnected), keeping its data. */
  halt(): Promise<void>
  /** Starts the server again after `halt()`: same port, same data. */
  start(): Promise<void>
}

const INSTALL_HINT =
  'PostgreSQL server not found. Install it with: sudo apt-get install -y postgresql'

/**
 * Starts a throw-away PostgreSQL on a free loopback port with durability turned off for speed.
 * As root it runs as the `postgres` system user, because PostgreSQL refuses to run as root.
 */
export async function startPostgresServer(
  options: PostgresServerOptions = {},
): Promise<PostgresServer> {
  const binDirs = postgresBinDirs()
  const initdb = findBinary('initdb', binDirs)
  const postgres = findBinary('postgres', binDirs)
  const isReady = findBinary('pg_isready', binDirs)
  if (!initdb || !postgres || !isReady) throw new Error(INSTALL_HINT)

  const user = isRoot() ? lookupUser('postgres') : undefined
  const dir = mkdtempSync(join(tmpdir(), 'strata-pg-'))
  if (user) chownSync(dir, user.uid, user.gid)
  chmodSync(dir, 0o700)
  const dataDir = join(dir, 'data')
  const initdbArgs = ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--no-sync']
  if (options.password === undefined) initdbArgs.push('--auth=trust')
  else {
    // The password goes through a file only the server's user can read, never the command line.
    const pwfile = join(dir, 'pwfile')
    writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 })
    if (user) chownSync(pwfile, user.uid, user.gid)
    initdbArgs.push('--auth=scram-sha-256', `--pwfile=${pwfile}`)
  }
  try {
    runAs(user, initdb, initdbArgs)
  } finally {
    rmSync(join(dir, 'pwfile'), { force: true })
  }

  const port = await freePort()
  const server = serverProcess('postgres', port, 30_000)
  const start = async () => {
    await server.start(() =>
      spawnAs(user, postgres, [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
        // Commit times of rows (pg_xact_commit_timestamp), for the API's consistency checks.
        '-c',
        'track_commit_timestamp=on',
      ]),
    )
    // The port opens before PostgreSQL accepts sessions ("the database system is starting up").
    await acceptingSessions(isReady, port, 30_000)
  }
  // SIGINT is PostgreSQL's "fast shutdown": it disconnects clients instead of waiting for them.
  const halt = () => server.halt('SIGINT')

  await start()
  return {
    port,
    url:
      options.password === undefined
        ? `postgres://postgres@127.0.0.1:${port}/postgres`
        : `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${port}/postgres`,
    halt,
    start,
    async stop() {
      await halt()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Resolves once `pg_isready` says the server on `port` accepts sessions; rejects after `timeoutMs`. */
async function acceptingSessions(isReady: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const args = ['-q', '-h', '127.0.0.1', '-p', String(port), '-t', '1']
  for (;;) {
    const ready = await new Promise<boolean>((resolve) =>
      execFile(isReady, args, (error) => resolve(error === null)),
    )
    if (ready) return
    if (Date.now() > deadline)
      throw new Error(`PostgreSQL on port ${port} did not accept sessions within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
