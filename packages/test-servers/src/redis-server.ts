import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findBinary, freePort, serverProcess, spawnAs } from './processes.js'
import { type RedisAclUser, redisUrlFor, redisUserDirective } from './redis-acl.js'

/** How a test's redis-server authenticates clients. */
export interface RedisServerOptions {
  /**
   * Password of the `default` user (what `requirepass` sets). Without it, and without `users`,
   * the server accepts anyone, as a fresh redis-server does. @default undefined
   */
  password?: string
  /** More ACL users, e.g. one limited to an application's key prefix. @default [] */
  users?: readonly RedisAclUser[]
}

/** A redis-server owned by a test: started on a free port, stopped by `stop()`. */
export interface RedisServer {
  readonly port: number
  /** The `default` user's URL: with its password when one is set. */
  readonly url: string
  /** The URL of one of `options.users`, credentials included. */
  urlFor(user: string): string
  /** Stops the server gracefully (no persistence is configured, so its data is gone). */
  stop(): Promise<void>
  /** Kills the server with SIGKILL, as a crash would. */
  kill(): Promise<void>
  /** Starts the server again on the same port, empty. */
  start(): Promise<void>
}

const INSTALL_HINT = 'redis-server not found. Install it with: sudo apt-get install -y redis-server'

/**
 * Starts a throw-away redis-server on a free loopback port with persistence off; optionally with
 * a password and ACL users.
 * @example const redis = await startRedisServer(); afterAll(() => redis.stop())
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = findBinary('redis-server', ['/usr/sbin', '/usr/local/bin'])
  if (!binary) throw new Error(INSTALL_HINT)
  const port = await freePort()
  const users = options.users ?? []
  const directives = [
    ...(options.password === undefined
      ? []
      : [
          redisUserDirective({ name: 'default', password: options.password, rules: '~* &* +@all' }),
        ]),
    ...users.map(redisUserDirective),
  ]
  const server = serverProcess('redis-server', port, 15_000)

  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    // ACL users can only be given in a config file; Redis reads it once, at start.
    const dir = directives.length > 0 ? mkdtempSync(join(tmpdir(), 'strata-redis-')) : undefined
    if (dir) {
      const file = join(dir, 'redis.conf')
      writeFileSync(file, `${directives.join('\n')}\n`, { mode: 0o600 })
      args.unshift(file)
    }
    try {
      await server.start(() => spawnAs(undefined, binary, args))
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true })
    }
  }

  await start()
  return {
    port,
    url:
      options.password === undefined
        ? `redis://127.0.0.1:${port}`
        : redisUrlFor(port, 'default', options.password),
    urlFor(name) {
      const user = users.find((candidate) => candidate.name === name)
      if (!user) throw new Error(`no Redis user ${JSON.stringify(name)} was configured`)
      return redisUrlFor(port, user.name, user.password)
    },
    stop: () => server.halt('SIGTERM'),
    kill: () => server.halt('SIGKILL'),
    start,
  }
}
