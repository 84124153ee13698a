import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { createTieredCache, loadScripts, STRATA_SCRIPTS, type TieredCache } from '../src/index.js'
import { useRedisTestbed, VersionedTable } from './helpers.js'

const bed = useRedisTestbed()
const opened: Redis[] = []
afterEach(() => {
  for (const redis of opened.splice(0)) redis.disconnect()
})

/** A command connection that records the name of every command sent through it. */
function countingRedis(): { redis: Redis; sent: string[] } {
  const redis = new Redis(bed.server.url)
  opened.push(redis)
  const sent: string[] = []
  const send = redis.sendCommand.bind(redis)
  redis.sendCommand = (command, stream) => {
    sent.push(command.name)
    return send(command, stream)
  }
  return { redis, sent }
}

/** Collects the bus's invalidations until the test's own marker comes back after them. */
async function listen(channel: string) {
  const subscriber = new Redis(bed.server.url)
  opened.push(subscriber)
  await subscriber.subscribe(channel)
  const heard: { key: string; version: number; type: string }[] = []
  let markerBack: () => void = () => {}
  subscriber.on('message', (_channel: string, raw: string) => {
    if (raw === 'marker') markerBack()
    else if (!raw.includes('"heartbeat"')) heard.push(JSON.parse(raw))
  })
  /** Resolves with every message heard before a marker published now (one channel keeps order). */
  const drain = async () => {
    const back = new Promise<void>((resolve) => {
      markerBack = resolve
    })
    await bed.redis.publish(channel, 'marker')
    await back
    return heard
  }
  return { drain }
}

async function cacheOn(redis: Redis, table: VersionedTable): Promise<TieredCache<string>> {
  const cache = createTieredCache<string>({
    redis,
    prefix: bed.prefix,
    loader: table.loader,
    heartbeatInterval: 0,
    busLease: 0,
  })
  expect(await cache.whenReady(10_000)).toBe(true)
  return cache
}

describe('an invalidation is one script that fences and publishes', () => {
  it('sends one command (EVALSHA of fence.lua) per invalidation, and its message reaches every replica once', async () => {
    await loadScripts(bed.redis)
    const table = new VersionedTable()
    const { redis, sent } = countingRedis()
    const writer = await cacheOn(redis, table)
    const reader = await bed.caches.create({ loader: table.loader })
    const { drain } = await listen(`${bed.prefix}:bus`)
    table.write('k', 'one')
    await reader.get('k')
    expect((await reader.get('k')).level).toBe('L1')

    sent.length = 0
    const version = table.write('k', 'two')
    await writer.invalidate('k', version)
    // Before this change: EVALSHA (the fence) and PUBLISH, two commands and two replies.
    expect(sent).toEqual(['evalsha'])
    expect(await drain()).toEqual([
      expect.objectContaining({ type: 'invalidate', key: 'k', version: 2 }),
    ])
    expect(await bed.redis.get(`${bed.prefix}:k:k`)).toMatch(/^2:0:\d+:t:/)
    // The reader heard it: its L1 copy is gone, and the next read loads the new row.
    expect(await reader.get('k')).toMatchObject({ level: 'DB', value: 'two' })
    await writer.close()
  })

  it('publishes exactly once also when a newer record keeps its place (a late second announcement)', async () => {
    const table = new VersionedTable()
    const { redis } = countingRedis()
    const writer = await cacheOn(redis, table)
    const { drain } = await listen(`${bed.prefix}:bus`)
    await writer.invalidate('k', 5)
    await writer.invalidate('k', 3)
    // The fence at 5 stayed: an older version never replaces a newer record.
    expect(await bed.redis.get(`${bed.prefix}:k:k`)).toMatch(/^5:0:\d+:t:/)
    expect((await drain()).map(({ key, version }) => ({ key, version }))).toEqual([
      { key: 'k', version: 5 },
      { key: 'k', version: 3 },
    ])
    await writer.close()
  })

  it('a script that fails before its end neither fences nor publishes', async () => {
    await loadScripts(bed.redis)
    const { drain } = await listen(`${bed.prefix}:bus`)
    // The fence's TTL is not a number: Redis refuses the SET, and the script stops before PUBLISH.
    const args = [4, '4:0:0:t:x', 'not-a-ttl', `${bed.prefix}:bus`, 'payload', 0]
    await expect(
      bed.redis.evalsha(STRATA_SCRIPTS.fence.sha, 1, `${bed.prefix}:k:k`, ...args),
    ).rejects.toThrow()
    expect(await bed.redis.get(`${bed.prefix}:k:k`)).toBeNull()
    expect(await drain()).toEqual([])
  })
})
