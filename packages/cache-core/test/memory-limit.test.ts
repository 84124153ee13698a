import { describe, expect, it } from 'vitest'
import { InvalidationError } from '../src/index.js'
import { useRedisTestbed, VersionedTable } from './helpers.js'

// Redis runs with a memory limit and `noeviction` (an `allkeys-*` policy could evict fences and the
// generation key). At the limit, every write command fails with OOM: a write must then be refused
// (nothing acknowledged, the caller rolls back), and reads must go on from the loader.

const bed = useRedisTestbed()

/** Used memory, in bytes, as Redis reports it. */
async function usedMemory(): Promise<number> {
  const info = await bed.redis.info('memory')
  return Number(/used_memory:(\d+)/.exec(info)?.[1])
}

describe('a Redis at its memory limit (maxmemory, noeviction)', () => {
  it('refuses invalidations, so writes are refused, and reads keep being answered', async () => {
    const table = new VersionedTable()
    const big = 'x'.repeat(64 * 1024)
    for (let i = 0; i < 64; i++) table.write(`big${i}`, big)
    table.write('k', 'v1')
    const cache = await bed.caches.create({ loader: table.loader })
    await bed.redis.config('SET', 'maxmemory-policy', 'noeviction')
    await bed.redis.config('SET', 'maxmemory', String((await usedMemory()) + 1024 * 1024))
    try {
      // Fill L2 past the limit: the sets that no longer fit fail, and each read is still answered.
      for (let i = 0; i < 64; i++) {
        expect(await cache.get(`big${i}`)).toMatchObject({ found: true, value: big })
      }
      expect(cache.stats().redisErrors).toBeGreaterThan(0)
      // Full: Redis refuses any write while it uses more than its limit.
      await bed.redis.config('SET', 'maxmemory', String((await usedMemory()) - 64 * 1024))

      await expect(cache.invalidate('k', table.write('k', 'v2'))).rejects.toBeInstanceOf(
        InvalidationError,
      )
      expect(await cache.get('k')).toMatchObject({ found: true })
      // Out of memory is an answer, not a hang: Redis is not skipped.
      expect(cache.health().l2).toBe('up')
    } finally {
      await bed.redis.config('SET', 'maxmemory', '0')
    }
    // Once memory is available again, writes go through.
    await cache.invalidate('k', table.write('k', 'v3'))
    expect(await cache.get('k')).toMatchObject({ value: 'v3', version: 3 })
  })
})
