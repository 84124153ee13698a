import { afterEach, describe, expect, it, vi } from 'vitest'
import { absent } from '../src/index.js'
import { Partitioning } from '../src/partitions.js'
import { decodeL2Record } from '../src/stores/l2-record.js'
import { RedisStore } from '../src/stores/redis-store.js'
import { deferred } from '../src/testing/index.js'
import { keysUnder, nextEvent, twoCachesOverK, useRedisTestbed, VersionedTable } from './helpers.js'

const bed = useRedisTestbed()

/** A value record at `version`, in generation 0, that L2 keeps for another minute. */
const liveRecord = (version: number) =>
  ({
    kind: 'value',
    version,
    expiresAt: Date.now() + 60_000,
    generation: 0,
    payload: '"x"',
  }) as const

// L1 reads the clock at most once per millisecond and resets that with a timer: fake both.
const FAKED: ('Date' | 'setTimeout' | 'clearTimeout')[] = ['Date', 'setTimeout', 'clearTimeout']

afterEach(() => {
  vi.useRealTimers()
})

describe('read path', () => {
  it('walks DB → L1 on one instance, then L2 → L1 on another', async () => {
    const table = new VersionedTable()
    table.write('k', 'v')
    const a = await bed.caches.create({ loader: table.loader })
    const b = await bed.caches.create({ loader: table.loader })
    expect(await a.get('k')).toEqual({ found: true, value: 'v', version: 1, level: 'DB' })
    expect(await a.get('k')).toMatchObject({ level: 'L1' })
    expect(await b.get('k')).toMatchObject({ value: 'v', level: 'L2' })
    expect(await b.get('k')).toMatchObject({ value: 'v', level: 'L1' })
    expect(table.loads).toBe(1)
    expect(b.stats()).toMatchObject({ l1Hits: 1, l2Hits: 1, promotions: 1, combinedHitRate: 100 })
  })

  it('peek answers L1 hits synchronously and nothing else', async () => {
    const table = new VersionedTable()
    table.write('k', 'v')
    const cache = await bed.caches.create({ loader: table.loader })
    expect(cache.peek('k')).toBeUndefined()
    await cache.get('k')
    expect(cache.peek('k')).toMatchObject({ found: true, value: 'v', level: 'L1' })
    expect(cache.stats()).toMatchObject({ reads: 2, l1Hits: 1, l1Misses: 1 })
    await cache.invalidate('k', table.write('k', 'w'))
    expect(cache.peek('k')).toBeUndefined()
  })

  it('runs the loader once for 100 concurrent misses', async () => {
    const table = new VersionedTable()
    table.write('hot', 'v')
    const gate = deferred()
    let calls = 0
    const cache = await bed.caches.create({
      loader: async (key) => {
        calls++
        await gate.promise
        return table.loader(key)
      },
    })
    const reads = Array.from({ length: 100 }, () => cache.get('hot'))
    gate.resolve()
    const results = await Promise.all(reads)
    expect(calls).toBe(1)
    expect(results.every((r) => r.found && r.value === 'v')).toBe(true)
  })

  it('caches a miss briefly and a write ends it early', async () => {
    const table = new VersionedTable()
    const cache = await bed.caches.create({ loader: table.loader })
    expect(await cache.get('nope')).toMatchObject({ found: false, level: 'DB' })
    expect(await cache.get('nope')).toMatchObject({ found: false, level: 'L1' })
    expect(table.loads).toBe(1)
    await cache.invalidate('nope', table.write('nope', 'now'))
    expect(await cache.get('nope')).toMatchObject({ found: true, value: 'now', level: 'DB' })
  })

  it('expires a cached miss after negativeTtl', async () => {
    const table = new VersionedTable()
    const cache = await bed.caches.create({ loader: table.loader, negativeTtl: 2_000 })
    // Faked only once the connections are up: connecting must not wait on a frozen clock.
    vi.useFakeTimers({ toFake: FAKED })
    await cache.get('nope')
    expect(await cache.get('nope')).toMatchObject({ level: 'L1' })
    vi.advanceTimersByTime(2_001)
    expect(await cache.get('nope')).toMatchObject({ found: false, level: 'DB' })
  })

  it('keeps the version of a deletion in the cached miss', async () => {
    const cache = await bed.caches.create({ loader: async () => absent(7) })
    expect(await cache.get('gone')).toMatchObject({ found: false, version: 7 })
  })
})

describe('promotion', () => {
  it('gives a promoted entry the smaller of the L1 TTL and the time L2 has left', async () => {
    const table = new VersionedTable()
    table.write('k', 'v')
    const writer = await bed.caches.create({ loader: table.loader, l2: { ttl: 300_000 } })
    const reader = await bed.caches.create({ loader: table.loader, l1: { ttl: 60_000 } })
    // Faked only once the connections are up: connecting must not wait on a frozen clock.
    vi.useFakeTimers({ toFake: FAKED })
    await writer.get('k') // in L2 until now + 300 s
    vi.advanceTimersByTime(295_000)
    const promoted = nextEvent(reader, 'promote')
    expect(await reader.get('k')).toMatchObject({ level: 'L2' })
    expect((await promoted).ttl).toBe(5_000)
    vi.advanceTimersByTime(4_000)
    expect(await reader.get('k')).toMatchObject({ level: 'L1' })
    vi.advanceTimersByTime(1_001)
    expect(await reader.get('k')).toMatchObject({ level: 'DB' })
  })

  it('caps a promoted entry at the L1 TTL when L2 has longer left', async () => {
    const table = new VersionedTable()
    table.write('k', 'v')
    const writer = await bed.caches.create({ loader: table.loader })
    const reader = await bed.caches.create({ loader: table.loader, l1: { ttl: 60_000 } })
    vi.useFakeTimers({ toFake: FAKED })
    await writer.get('k')
    const promoted = nextEvent(reader, 'promote')
    await reader.get('k')
    expect((await promoted).ttl).toBe(60_000)
    vi.advanceTimersByTime(60_001)
    expect(await reader.get('k')).toMatchObject({ level: 'L2' })
  })
})

describe('bounds', () => {
  it('holds at most maxEntries in L1', async () => {
    const table = new VersionedTable()
    for (let i = 0; i < 50; i++) table.write(`k${i}`, 'v')
    const cache = await bed.caches.create({ loader: table.loader, l1: { maxEntries: 10 } })
    for (let i = 0; i < 50; i++) await cache.get(`k${i}`)
    expect(cache.stats().l1Size).toBe(10)
    expect(await cache.get('k49')).toMatchObject({ level: 'L1' })
    expect(await cache.get('k0')).toMatchObject({ level: 'L2' })
  })

  it('holds at most maxBytes in L1', async () => {
    const table = new VersionedTable()
    const value = 'x'.repeat(98) // 100 bytes once serialized as JSON
    for (let i = 0; i < 50; i++) table.write(`k${i}`, value)
    const cache = await bed.caches.create({ loader: table.loader, l1: { maxBytes: 1_000 } })
    for (let i = 0; i < 50; i++) await cache.get(`k${i}`)
    const { l1Size, l1Bytes } = cache.stats()
    expect(l1Bytes).toBeLessThanOrEqual(1_000)
    expect(l1Size).toBe(10)
  })

  it('weighs values with l1.weigh, and admits none heavier than l1.maxEntryBytes', async () => {
    const table = new VersionedTable()
    table.write('small', 'x'.repeat(98)) // 100 bytes serialized, weighs 300
    table.write('large', 'x'.repeat(598)) // 600 bytes serialized, weighs 1,300
    const cache = await bed.caches.create({
      loader: table.loader,
      l1: { maxBytes: 10_000, maxEntryBytes: 1_000, weigh: (bytes) => 2 * bytes + 100 },
    })
    await cache.get('small')
    await cache.get('large')
    expect(cache.stats().l1Bytes).toBe(300)
    expect(await cache.get('small')).toMatchObject({ level: 'L1' })
    // Still served, from L2, and never kept in L1.
    expect(await cache.get('large')).toMatchObject({ level: 'L2' })
    expect(await cache.get('large')).toMatchObject({ level: 'L2' })
    expect(cache.stats()).toMatchObject({ l1Size: 1, promotions: 0 })
  })

  it('writes no value larger than l2.maxEntryBytes to Redis, and so caches it nowhere', async () => {
    const table = new VersionedTable()
    table.write('large', 'x'.repeat(200))
    table.write('small', 'x')
    const cache = await bed.caches.create({ loader: table.loader, l2: { maxEntryBytes: 100 } })
    expect(await cache.get('large')).toMatchObject({ level: 'DB' })
    expect(await cache.get('large')).toMatchObject({ level: 'DB' })
    expect(await bed.redis.exists(`${bed.prefix}:k:large`)).toBe(0)
    await cache.get('small')
    expect(await cache.get('small')).toMatchObject({ level: 'L1' })
  })

  it('keeps cached misses apart: reads of unknown keys never push a value out of L1', async () => {
    const table = new VersionedTable()
    for (let i = 0; i < 10; i++) table.write(`hot${i}`, 'v')
    const cache = await bed.caches.create({
      loader: table.loader,
      l1: { maxEntries: 10, maxMisses: 20 },
    })
    for (let i = 0; i < 10; i++) await cache.get(`hot${i}`)
    for (let i = 0; i < 500; i++) await cache.get(`unknown-${i}`)
    for (let i = 0; i < 10; i++) expect(cache.peek(`hot${i}`)).toMatchObject({ found: true })
    expect(cache.stats().l1Size).toBe(30) // 10 values + the 20 newest misses
    expect(cache.peek('unknown-499')).toMatchObject({ found: false, level: 'L1' })
    expect(cache.peek('unknown-0')).toBeUndefined()
  })
})

describe('modes', () => {
  it('none: every read runs the loader and Redis is not used', async () => {
    const table = new VersionedTable()
    table.write('k', 'v')
    const cache = await bed.caches.create({ loader: table.loader, mode: 'none', redis: undefined })
    await cache.get('k')
    expect(await cache.get('k')).toMatchObject({ level: 'DB' })
    expect(table.loads).toBe(2)
    expect(cache.health()).toEqual({ mode: 'none', l1: 'off', l2: 'off', bus: 'off' })
  })

  it('l2: serves from Redis and never from L1', async () => {
    const table = new VersionedTable()
    table.write('k', 'v')
    const cache = await bed.caches.create({ loader: table.loader, mode: 'l2' })
    await cache.get('k')
    expect(await cache.get('k')).toMatchObject({ level: 'L2' })
    expect(await cache.get('k')).toMatchObject({ level: 'L2' })
    expect(cache.stats()).toMatchObject({ l1Hits: 0, l1Size: 0, l2Hits: 2 })
  })

  it('l1: serves from L1, caches nothing in Redis, and its writes still fence L2 and invalidate', async () => {
    const { table, a, b } = await twoCachesOverK(bed, { mode: 'l1' })
    await a.get('k')
    expect(await a.get('k')).toMatchObject({ level: 'L1' })
    // Only the generation, which every instance reads when it subscribes.
    expect(await keysUnder(bed.redis, bed.prefix)).toEqual([`${bed.prefix}:m:generation`])
    const heard = nextEvent(a, 'invalidate')
    await b.invalidate('k', table.write('k', 'v2'))
    await heard
    expect(await a.get('k')).toMatchObject({ value: 'v2', level: 'DB' })
    // Replicas in other modes may read L2: an l1 writer fences it all the same.
    expect(await bed.redis.get(`${bed.prefix}:k:k`)).toMatch(/^2:0:\d+:t:/)
  })
})

describe('L2 namespace and fences', () => {
  it('keeps user keys inside the prefix, away from the metadata keys', async () => {
    const table = new VersionedTable()
    table.write('m:generation', 'sneaky')
    table.write('../other', 'x')
    const cache = await bed.caches.create({ loader: table.loader })
    await cache.get('m:generation')
    await cache.get('../other')
    const before = cache.stats().generation
    await cache.clear()
    // Fill leases live under l:, dropped once their loads are done.
    await vi.waitFor(async () =>
      expect(await keysUnder(bed.redis, bed.prefix)).toEqual([
        `${bed.prefix}:k:../other`,
        `${bed.prefix}:k:m:generation`,
        `${bed.prefix}:m:generation`,
      ]),
    )
    expect(await bed.redis.get(`${bed.prefix}:m:generation`)).toBe(String(before + 1))
  })

  it('refuses in Lua a set older than the fence, even from an instance that never heard of it', async () => {
    const store = new RedisStore({
      redis: bed.redis,
      partitioning: Partitioning.single(bed.prefix),
    })
    await store.fence('k', 5, 0, 'n', 60_000, undefined)
    const stale = liveRecord(4)
    const deadline = Date.now() + 60_000
    expect(await store.set('k', stale, 60_000, deadline)).toBe(false)
    expect(await store.set('k', { ...stale, version: 5 }, 60_000, deadline)).toBe(true)
    const raw = await bed.redis.get(`${bed.prefix}:k:k`)
    expect(raw && decodeL2Record(raw)).toMatchObject({ kind: 'value', version: 5 })
  })

  it("refuses in Lua a set that reaches Redis after its deadline, on Redis's clock", async () => {
    const store = new RedisStore({
      redis: bed.redis,
      partitioning: Partitioning.single(bed.prefix),
    })
    const record = liveRecord(1)
    // A load delayed past maxLoadTime on its way to Redis (a paused replica, a slow link).
    expect(await store.set('k', record, 60_000, Date.now() - 1)).toBe(false)
    expect(await bed.redis.exists(`${bed.prefix}:k:k`)).toBe(0)
    expect(await store.set('k', record, 60_000, Date.now() + 60_000)).toBe(true)
  })

  it('keeps the fence alive when a short-lived miss replaces it', async () => {
    const store = new RedisStore({
      redis: bed.redis,
      partitioning: Partitioning.single(bed.prefix),
    })
    await store.fence('k', 3, 0, 'n', 60_000, undefined)
    await store.set(
      'k',
      { kind: 'absent', version: 3, expiresAt: Date.now() + 1_000, generation: 0 },
      1_000,
      Date.now() + 60_000,
    )
    expect(await bed.redis.pttl(`${bed.prefix}:k:k`)).toBeGreaterThan(50_000)
  })
})
