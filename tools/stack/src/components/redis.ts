import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { redactUrl } from '@strata/api/redact'
import { redisUserDirective } from '@strata/test-servers'
import { logFileOf, stackPaths } from '../config.js'
import { API_REDIS_USER, apiUserAclRules } from '../credentials.js'
import { redisAnswersPing } from '../probes.js'
import { loadStrataScripts } from '../redis-scripts.js'
import { launch, type RunningComponent, type StartContext } from './launch.js'

/** The users of every Redis the stack starts: `default` (every command) and the replicas' user. */
export function stackRedisUsers(ctx: StartContext) {
  const { config, credentials } = ctx
  return [
    { name: 'default', password: credentials.redis.adminPassword, rules: '~* &* +@all' },
    {
      name: API_REDIS_USER,
      password: credentials.redis.apiPassword,
      rules: apiUserAclRules(config.rootDir),
    },
  ]
}

/** One redis-server of the stack: a single server or a cluster node. */
export interface RedisProcess {
  name: string
  port: number
  /** Where clients reach it, as `status` shows it (no password). */
  url: string
  /** Its working directory, where its redis.conf is written. */
  dir: string
  /** The redis.conf lines: its users and, for a cluster node, the cluster's settings. */
  directives: readonly string[]
  logMode: 'truncate' | 'append'
}

/**
 * Starts one redis-server, in memory only (the data is a cache and the bus), and waits until it
 * answers the `default` user and holds Strata's scripts.
 */
export function launchRedis(ctx: StartContext, redis: RedisProcess): Promise<RunningComponent> {
  const { config, credentials } = ctx
  const binary = ctx.binaries.redisServer
  if (!binary) throw new Error('launchRedis called without redis-server')
  mkdirSync(redis.dir, { recursive: true })
  const confFile = join(redis.dir, 'redis.conf')
  writeFileSync(
    confFile,
    `# Written by the Strata stack runner before every start; edits are overwritten.\n${redis.directives.join('\n')}\n`,
    { mode: 0o600 },
  )
  chmodSync(confFile, 0o600)
  const auth = { user: 'default', password: credentials.redis.adminPassword }
  return launch(ctx, {
    name: redis.name,
    kind: 'redis',
    port: redis.port,
    url: redis.url,
    logFile: logFileOf(config, redis.name),
    logMode: redis.logMode,
    command: binary,
    args: [
      confFile,
      '--port',
      String(redis.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      redis.dir,
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
    cwd: redis.dir,
    env: { PATH: '/usr/bin:/bin' },
    // Ready once the replicas' scripts are in: they may only run them by SHA.
    ready: async () =>
      (await redisAnswersPing(redis.port, auth)) && loadStrataScripts(redis.port, auth),
  })
}

/**
 * Starts redis-server on `redisPort` with two users: `default` (every command) and `strata-api`
 * (Strata's keys, channel and commands only, as deploy/redis/api-user.acl says). Their passwords
 * are in redis.conf as SHA-256 hashes. A restart passes `logMode: 'append'`, so the log keeps
 * what came before.
 */
export function startRedis(
  ctx: StartContext,
  logMode: 'truncate' | 'append' = 'truncate',
): Promise<RunningComponent> {
  const { config } = ctx
  return launchRedis(ctx, {
    name: 'redis',
    port: config.redisPort,
    url: redactUrl(ctx.urls.redisUrl),
    dir: stackPaths(config).redisDir,
    directives: stackRedisUsers(ctx).map(redisUserDirective),
    logMode,
  })
}
