import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { redactUrl } from '@strata/api/redact'
import { redisUserDirective } from '@strata/test-servers'
import { logFileOf, stackPaths } from '../config.js'
import { API_REDIS_USER, apiUserAclRules } from '../credentials.js'
import { redisAnswersPing } from '../probes.js'
import { loadStrataScripts } from '../redis-scripts.js'
import { launch, type RunningComponent, type StartContext } from './launch.js'

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
    // Ready once the replicas' scripts are in: they may only run them by SHA.
    ready: async () => (await redisAnswersPing(port, auth)) && loadStrataScripts(port, auth),
  })
}
