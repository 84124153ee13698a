import { loadScripts } from '@strata/cache-core'
import { Redis } from 'ioredis'
import type { RedisAuth } from './probes.js'

/**
 * Loads Strata's Lua scripts into the stack's Redis as `default`. The replicas' user may only run
 * them by SHA (deploy/redis/api-user.acl: no EVAL, no SCRIPT LOAD) and Redis forgets them when it
 * stops, so this is part of every Redis start: its readiness, restarts (chaos) included. Throws
 * when Redis answers but refuses them, which no retry would fix.
 */
export async function loadStrataScripts(port: number, auth: RedisAuth): Promise<true> {
  const admin = new Redis({
    host: '127.0.0.1',
    port,
    username: auth.user,
    password: auth.password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  try {
    await admin.connect()
    await loadScripts(admin)
    return true
  } finally {
    admin.disconnect()
  }
}
