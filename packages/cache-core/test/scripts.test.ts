import { randomBytes } from 'node:crypto'
import { type RedisServer, startRedisServer } from '@strata/test-servers'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type CacheEvents,
  createTieredCache,
  InvalidationError,
  loadScripts,
  ScriptNotLoadedError,
  type ScriptsMode,
  STRATA_SCRIPTS,
  type TieredCache,
} from '../src/index.js'
import { narrowAclRules, VersionedTable } from './helpers.js'

const PREFIX = 'app'

let server: RedisServer
let admin: Redis
const caches: TieredCache<string>[] = []

beforeAll(async () => {
  server = await startRedisServer({
    password: randomBytes(16).toString('hex'),
    users: [
      { name: 'app', password: randomBytes(16).toString('hex'), rules: narrowAclRules(PREFIX) },
    ],
  })
  admin = new Redis(server.url)
})
beforeEach(async () => {
  // As after a Redis restart: no data, no script loaded.
  await admin.flushall()
  await admin.script('FLUSH')
  await admin.acl('LOG', 'RESET')
})
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})
afterAll(async () => {
  admin?.disconnect()
  await server?.stop()
})

/** A cache as the narrow user, not waited for: it cannot come online before the scripts are in. */
function cacheOf(table: VersionedTable, scripts: ScriptsMode | undefined) {
  const cache = createTieredCache<string>({
    redis: server.urlFor('app'),
    prefix: PREFIX,
    loader: table.loader,
    l2: { scripts },
    heartbeatInterval: 0,
    busLease: 0,
  })
  caches.push(cache)
  const redisEvents: CacheEvents['redis'][] = []
  cache.events.on('redis', (event) => redisEvents.push(event))
  const firstScriptError = new Promise<ScriptNotLoadedError>((resolve) =>
    cache.events.on('degraded', ({ error }) => {
      if (error instanceof ScriptNotLoadedError) resolve(error)
    }),
  )
  return { cache, redisEvents, firstScriptError }
}

/** Once the scripts are in: the cache comes online, fences a write, then serves it from L1. */
async function expectWorking(cache: TieredCache<string>, table: VersionedTable, value: string) {
  expect(await cache.whenReady(10_000)).toBe(true)
  const version = table.write('k', value)
  await cache.invalidate('k', version)
  expect(await cache.get('k')).toMatchObject({ level: 'DB', value })
  expect(await cache.get('k')).toMatchObject({ level: 'L1', value })
}

describe('Lua scripts loaded by an admin, for a Redis user without EVAL', () => {
  it('loadScripts() loads every script under the SHA1 the cache sends', async () => {
    const shas = await loadScripts(admin)
    expect(shas).toEqual(Object.values(STRATA_SCRIPTS).map((script) => script.sha))
    expect(await admin.script('EXISTS', ...shas)).toEqual(shas.map(() => 1))
    // Idempotent: a second run (another replica's start, an operator) changes nothing.
    expect(await loadScripts(admin)).toEqual(shas)
  })

  it('preloaded: before the load, reads are answered from the loader (nothing cached in L2), writes are refused with NOSCRIPT named; after it, everything works', async () => {
    const table = new VersionedTable()
    const { cache, redisEvents, firstScriptError } = cacheOf(table, 'preloaded')

    const error = await firstScriptError
    expect(error.code).toBe('E_SCRIPT_NOT_LOADED')
    expect(error.script).toBe('sync-generation.lua')
    expect(error.message).toContain('NOSCRIPT')
    expect(error.message).toContain('loadScripts()')
    table.write('k', 'one')
    expect(await cache.get('k')).toMatchObject({ level: 'DB', value: 'one' })
    expect(await cache.get('k')).toMatchObject({ level: 'DB', value: 'one' })
    const refused = await cache.invalidate('k', 2).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(InvalidationError)
    expect((refused as InvalidationError).cause).toBeInstanceOf(ScriptNotLoadedError)
    expect((refused as Error).message).toMatch(/fence\.lua .*NOSCRIPT/)
    // Redis answered every time: nothing took it for a hung Redis.
    expect(redisEvents).toEqual([])
    // Yet nothing is cached in L2 and writes are refused: health says why, not "up".
    expect(cache.health().l2).toBe('scripts-missing')

    await loadScripts(admin)
    await expectWorking(cache, table, 'two')
    expect(cache.health().l2).toBe('up')
    await cache.clear()

    // Flushed while running (no reconnect): the next script call notices, the next one after
    // the load clears it.
    await admin.script('FLUSH')
    await expect(cache.invalidate('k', table.write('k', 'three'))).rejects.toThrow(/NOSCRIPT/)
    expect(cache.health().l2).toBe('scripts-missing')
    await loadScripts(admin)
    await cache.invalidate('k', table.write('k', 'four'))
    expect(cache.health().l2).toBe('up')
    // EVALSHA only: Redis refused this user nothing, so no EVAL was ever tried.
    expect(await admin.acl('LOG')).toEqual([])
  })

  it('eval: the EVAL fallback refused (NOPERM) is the same clear error; loaded scripts run', async () => {
    const table = new VersionedTable()
    const { cache, firstScriptError } = cacheOf(table, undefined)

    const error = await firstScriptError
    expect(error.message).toMatch(/sync-generation\.lua .*NOPERM/)
    expect(error.message).toContain('docs/operations.md')

    await loadScripts(admin)
    await expectWorking(cache, table, 'one')
  })

  it('the narrow user itself can neither run its own Lua nor load any', async () => {
    const user = new Redis(server.urlFor('app'), { enableReadyCheck: false })
    try {
      await expect(user.eval('return 1', 0)).rejects.toThrow(/NOPERM/)
      await expect(user.script('LOAD', 'while true do end')).rejects.toThrow(/NOPERM/)
      await loadScripts(admin)
      // A loaded script runs by SHA (the generation sync, on a missing key of the user's own).
      const { sha } = STRATA_SCRIPTS.syncGeneration
      expect(await user.evalsha(sha, 1, `${PREFIX}:m:probe`, 0, 7)).toBe(7)
    } finally {
      user.disconnect()
    }
  })
})
