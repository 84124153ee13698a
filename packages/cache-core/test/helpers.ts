import { type RedisServer, startRedisServer } from '@strata/test-servers'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import {
  absent,
  type CacheEvents,
  createTieredCache,
  type Loaded,
  type TieredCache,
} from '../src/index.js'
import type { TieredCacheOptions } from '../src/options.js'

/**
 * The source of truth for cache-core tests: a versioned key/value table in memory, standing in
 * for PostgreSQL (cache-core knows nothing of databases). Redis is always the real server.
 */
export class VersionedTable {
  readonly rows = new Map<string, { value: string; version: number }>()
  loads = 0

  /** Upserts and returns the new version, as `/write` does. */
  write(key: string, value: string): number {
    const version = (this.rows.get(key)?.version ?? 0) + 1
    this.rows.set(key, { value, version })
    return version
  }

  /** A loader over this table. */
  readonly loader = async (key: string): Promise<Loaded<string>> => {
    this.loads++
    const row = this.rows.get(key)
    return row ? { value: row.value, version: row.version } : absent()
  }
}

/** Tracks caches so each test closes what it created. */
export class CacheFactory {
  readonly #caches: TieredCache<string>[] = []

  constructor(
    readonly redisUrl: () => string,
    readonly prefix: () => string,
  ) {}

  /** Creates a cache on the test Redis and waits until its bus is up. */
  async create(
    options: Partial<TieredCacheOptions<string>> & Pick<TieredCacheOptions<string>, 'loader'>,
  ): Promise<TieredCache<string>> {
    const cache = createTieredCache<string>({
      redis: this.redisUrl(),
      prefix: this.prefix(),
      // Timers that ping Redis on their own are turned on by the tests about them.
      heartbeatInterval: 0,
      busLease: 0,
      ...options,
    })
    this.#caches.push(cache)
    if (options.mode !== 'none') {
      const ready = await cache.whenReady(10_000)
      if (!ready) throw new Error('cache did not come online')
    }
    return cache
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#caches.splice(0).map((cache) => cache.close()))
  }
}

/** Resolves with the next event of that name whose payload matches. */
export function nextEvent<E extends keyof CacheEvents>(
  cache: TieredCache<string>,
  event: E,
  matches: (payload: CacheEvents[E]) => boolean = () => true,
): Promise<CacheEvents[E]> {
  return new Promise((resolve) => {
    const listener = (payload: CacheEvents[E]) => {
      if (!matches(payload)) return
      cache.events.off(event, listener)
      resolve(payload)
    }
    cache.events.on(event, listener)
  })
}

/** Every Redis key under a prefix, for assertions (SCAN, never KEYS). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    found.push(...batch)
  } while (cursor !== '0')
  return found.sort()
}

/** Calls of GET and EVALSHA the Redis server has run so far (INFO commandstats). */
export async function commandCounts(redis: Redis): Promise<{ get: number; evalsha: number }> {
  const info = await redis.info('commandstats')
  const calls = (command: string) =>
    Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
  return { get: calls('get'), evalsha: calls('evalsha') }
}

let prefixCounter = 0
/** A fresh key prefix per test, so tests sharing one Redis never see each other's data. */
export const freshPrefix = (): string => `t${process.pid}x${++prefixCounter}`

/** What a test file shares: one redis-server, an admin client on it, a key prefix per test. */
export interface RedisTestbed {
  server: RedisServer
  /** A client for assertions; it survives Redis restarts (retries, no error noise). */
  redis: Redis
  prefix: string
  caches: CacheFactory
}

/**
 * Registers the hooks every suite needs: a redis-server for the file, a fresh prefix per test,
 * and every cache a test created closed after it.
 */
export function useRedisTestbed(): RedisTestbed {
  const bed = { prefix: '' } as RedisTestbed
  bed.caches = new CacheFactory(
    () => bed.server.url,
    () => bed.prefix,
  )
  beforeAll(async () => {
    bed.server = await startRedisServer()
    bed.redis = new Redis(bed.server.url, { retryStrategy: () => 100, maxRetriesPerRequest: null })
    bed.redis.on('error', () => {})
  })
  afterAll(async () => {
    bed.redis.disconnect()
    await bed.server.stop()
  })
  beforeEach(() => {
    bed.prefix = freshPrefix()
  })
  afterEach(() => bed.caches.closeAll())
  return bed
}

/**
 * ACL rules of a least-privilege cache user: the prefix's keys and channel, and the commands a
 * cache sends with `l2.scripts: 'preloaded'` (EVALSHA, never EVAL or SCRIPT) and its scripts run.
 */
export const narrowAclRules = (prefix: string): string =>
  [
    `resetkeys ~${prefix}:*`,
    `resetchannels &${prefix}:*`,
    '-@all +get +set +evalsha +getrange +pttl +strlen +del +time +publish +subscribe +ping',
  ].join(' ')

/** Options of one cache a test creates: everything but the loader, which is the table's. */
type TestCacheOptions = Partial<TieredCacheOptions<string>>

/**
 * A table holding `k` at version 1 and two caches over it, each with its own options (the
 * second defaults to the first's): how the tests of what one process sees of another begin.
 */
export async function twoCachesOverK(
  bed: RedisTestbed,
  first: TestCacheOptions = {},
  second: TestCacheOptions = first,
): Promise<{ table: VersionedTable; a: TieredCache<string>; b: TieredCache<string> }> {
  const table = new VersionedTable()
  table.write('k', 'v1')
  const a = await bed.caches.create({ loader: table.loader, ...first })
  const b = await bed.caches.create({ loader: table.loader, ...second })
  return { table, a, b }
}
