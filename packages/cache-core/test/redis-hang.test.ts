import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { InvalidationError, type L2Store } from '../src/index.js'
import { nextEvent, useRedisTestbed, VersionedTable } from './helpers.js'

const bed = useRedisTestbed()

/** redis-server's pid, for freezing it with SIGSTOP. */
async function redisPid(redis: Redis): Promise<number> {
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1])
  if (!Number.isInteger(pid)) throw new Error('INFO server reported no process_id')
  return pid
}

/** Counts the commands the cache sends through its L2 store. */
function counting(store: L2Store, calls: { get: number; set: number; fence: number }): L2Store {
  return {
    get: (key) => {
      calls.get++
      return store.get(key)
    },
    set: (...args) => {
      calls.set++
      return store.set(...args)
    },
    fence: (key, version, generation, nonce, ttl, announce) => {
      calls.fence++
      return store.fence(key, version, generation, nonce, ttl, announce)
    },
    unfence: (...args) => store.unfence(...args),
    syncGeneration: (known, fresh) => store.syncGeneration(known, fresh),
    bumpGeneration: (known) => store.bumpGeneration(known),
  }
}

describe('a Redis that hangs', () => {
  it('costs one command timeout, after which reads skip L2 and writes are refused at once', async () => {
    const table = new VersionedTable()
    for (const key of ['a', 'b', 'c']) table.write(key, 'v1')
    const calls = { get: 0, set: 0, fence: 0 }
    const cache = await bed.caches.create({
      loader: table.loader,
      redisCommandTimeout: 200,
      wrapL2: (store) => counting(store, calls),
    })
    const pid = await redisPid(bed.redis)
    const down = nextEvent(cache, 'redis', (event) => event.state === 'down')
    const up = nextEvent(cache, 'redis', (event) => event.state === 'up')
    process.kill(pid, 'SIGSTOP')
    let sent: typeof calls
    try {
      // The first read waits for its L2 GET to time out, then loads from the source.
      expect(await cache.get('a')).toMatchObject({ value: 'v1', level: 'DB' })
      await down
      expect(cache.health().l2).toBe('down')
      sent = { ...calls }
      // From now on nothing is sent to the frozen Redis, so nothing waits for a timeout.
      expect(await cache.get('b')).toMatchObject({ value: 'v1', level: 'DB' })
      expect(await cache.get('c')).toMatchObject({ value: 'v1', level: 'DB' })
      await expect(cache.invalidate('b', table.write('b', 'v2'))).rejects.toBeInstanceOf(
        InvalidationError,
      )
      expect(calls).toEqual(sent)
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    // The probe's PING is answered once Redis runs again, and L2 is used again.
    await up
    expect(cache.health().l2).toBe('up')
    await cache.get('c')
    expect(calls.get).toBeGreaterThan(sent.get)
  })
})
