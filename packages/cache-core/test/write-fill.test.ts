import { describe, expect, it, vi } from 'vitest'
import type { TieredCache } from '../src/index.js'
import { Partitioning } from '../src/partitions.js'
import { decodeL2Record } from '../src/stores/l2-record.js'
import { RedisStore } from '../src/stores/redis-store.js'
import { commandCounts, useRedisTestbed, VersionedTable } from './helpers.js'

const bed = useRedisTestbed()

/** Long enough that no waiter gives up before the test lets the writer fill. */
const LONG_WAIT = { fillLeaseWait: 30_000 }

async function l2Record(key: string) {
  const raw = await bed.redis.get(Partitioning.single(bed.prefix).redisKey(key))
  return raw === null ? undefined : decodeL2Record(raw)
}

const leaseKey = (key: string) => Partitioning.single(bed.prefix).leaseKey(key)

/** A table holding `k` at v1 and `count` caches over it, the first one the writer. */
async function cluster(count: number, l2 = LONG_WAIT) {
  const table = new VersionedTable()
  table.write('k', 'v1')
  const caches: TieredCache<string>[] = []
  for (let i = 0; i < count; i++) caches.push(await bed.caches.create({ loader: table.loader, l2 }))
  return { table, caches }
}

/** A write as the API runs it: announce (fence + lease) inside the transaction, then commit. */
async function announce(writer: TieredCache<string>, table: VersionedTable, key = 'k') {
  const version = (table.rows.get(key)?.version ?? 0) + 1
  await writer.invalidate(key, version, { fill: true })
  return version
}

describe('the writer fills L2 after its commit', () => {
  it('after a write, readers on two other instances are served the writer’s fill: no load', async () => {
    const { table, caches } = await cluster(3)
    const [writer, b, c] = caches as [TieredCache<string>, TieredCache<string>, TieredCache<string>]
    const before = await commandCounts(bed.redis)
    await announce(writer, table)
    const version = table.write('k', 'v2')
    await writer.committed('k', { value: 'v2', version })
    const after = await commandCounts(bed.redis)
    // Two scripts (the fence that takes the lease, the fill that drops it), and no GET: they read
    // the lease with GETRANGE, so INFO commandstats counts no read for a write.
    expect([after.evalsha - before.evalsha, after.get - before.get]).toEqual([2, 0])
    expect(await l2Record('k')).toMatchObject({ kind: 'value', version, payload: '"v2"' })
    const lookups = await Promise.all([b.get('k'), c.get('k')])
    expect(lookups.map((lookup) => [lookup.value, lookup.level])).toEqual([
      ['v2', 'L2'],
      ['v2', 'L2'],
    ])
    expect(table.loads).toBe(0)
    // One L2 set, counted as the write's (not the reads') Redis command.
    expect(caches.map((cache) => cache.stats().writeFills)).toEqual([1, 0, 0])
  })

  it('the fill drops the writer’s lease with it: a reader whose record is gone since does not wait', async () => {
    // Long enough that a reader held by a spent lease would time the test out.
    const { table, caches } = await cluster(2)
    const [writer, reader] = caches as [TieredCache<string>, TieredCache<string>]
    await announce(writer, table)
    const version = table.write('k', 'v2')
    await writer.committed('k', { value: 'v2', version })
    // Gone in the same script as the fill landed: committed() has resolved.
    expect(await bed.redis.exists(leaseKey('k'))).toBe(0)
    // The filled record is evicted (memory pressure, a TTL): the next reader takes the lease and
    // loads at once, rather than wait up to maxWriteTime for a fill that already came.
    await bed.redis.del(Partitioning.single(bed.prefix).redisKey('k'))
    const lookup = await reader.get('k')
    expect([lookup.value, lookup.version, lookup.level]).toEqual(['v2', version, 'DB'])
    expect(reader.stats().fillLeaseWaits).toBe(0)
    // The fence still decides: a late set of the row the write replaced is refused.
    const store = new RedisStore({
      redis: bed.redis,
      partitioning: Partitioning.single(bed.prefix),
    })
    const old = {
      kind: 'value',
      version: version - 1,
      expiresAt: Date.now() + 60_000,
      generation: 0,
      payload: '"v1"',
    } as const
    expect(await store.set('k', old, 60_000, Date.now() + 60_000, 'late')).toBe(false)
    expect(await l2Record('k')).toMatchObject({ kind: 'value', version, payload: '"v2"' })
  })

  it('a refused fill drops the writer’s lease too, and leaves a lease it does not hold', async () => {
    const { table, caches } = await cluster(1)
    const writer = caches[0] as TieredCache<string>
    const version = await announce(writer, table)
    table.write('k', 'v2')
    const store = new RedisStore({
      redis: bed.redis,
      partitioning: Partitioning.single(bed.prefix),
    })
    // Another token's set (refused: a newer version is there) leaves the writer's lease alone.
    await store.fence('k', version + 1, 0, 'newer', 60_000, undefined)
    const refused = {
      kind: 'absent',
      version,
      expiresAt: Date.now() + 60_000,
      generation: 0,
    } as const
    expect(await store.set('k', refused, 60_000, Date.now() + 60_000, 'other')).toBe(false)
    expect(await bed.redis.get(leaseKey('k'))).toMatch(new RegExp(`^${version}:`))
    await writer.committed('k', { value: 'v2', version })
    expect(writer.stats().staleSetsRejected).toBe(1)
    expect(await bed.redis.exists(leaseKey('k'))).toBe(0)
  })

  it('a reader between the fence and the commit waits for the fill and is served the new value, with no load', async () => {
    const { table, caches } = await cluster(2)
    const [writer, reader] = caches as [TieredCache<string>, TieredCache<string>]
    await announce(writer, table)
    // The row is still v1 (not committed): loading now would read the row the write replaces.
    const read = reader.get('k')
    await vi.waitFor(() => expect(reader.stats().fillLeaseWaits).toBe(1), { timeout: 10_000 })
    const version = table.write('k', 'v2')
    await writer.committed('k', { value: 'v2', version })
    const lookup = await read
    expect([lookup.value, lookup.version, lookup.level]).toEqual(['v2', version, 'L2'])
    expect(table.loads).toBe(0)
    expect(reader.stats().fillLeaseFills).toBe(1)
  })

  it('a newer write’s fence refuses an older writer’s late fill (in Redis, before the writer hears of it)', async () => {
    const { table, caches } = await cluster(2)
    const [older, reader] = caches as [TieredCache<string>, TieredCache<string>]
    await announce(older, table)
    const first = table.write('k', 'v2')
    // A newer write's fence, straight into Redis: the older writer has not heard of it.
    const store = new RedisStore({
      redis: bed.redis,
      partitioning: Partitioning.single(bed.prefix),
    })
    await store.fence('k', first + 1, 0, 'newer', 60_000, undefined)
    table.write('k', 'v3')
    await older.committed('k', { value: 'v2', version: first })
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version: first + 1 })
    expect(older.stats().staleSetsRejected).toBe(1)
    // Refused in Redis, but sent: still a write-path command.
    expect(older.stats().writeFills).toBe(1)
    const lookup = await reader.get('k')
    expect([lookup.value, lookup.version]).toEqual(['v3', first + 1])
  })

  it('an older writer that heard of a newer write skips its fill; the newer one’s lands', async () => {
    const { table, caches } = await cluster(3)
    const [older, newer, reader] = caches as [
      TieredCache<string>,
      TieredCache<string>,
      TieredCache<string>,
    ]
    await announce(older, table)
    const first = table.write('k', 'v2')
    await announce(newer, table)
    const second = table.write('k', 'v3')
    await older.committed('k', { value: 'v2', version: first })
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version: second })
    await newer.committed('k', { value: 'v3', version: second })
    const lookup = await reader.get('k')
    expect([lookup.value, lookup.level]).toEqual(['v3', 'L2'])
    expect(table.loads).toBe(0)
  })

  it('a write that does not commit drops its lease: readers load at once, and nothing is filled', async () => {
    const { table, caches } = await cluster(2)
    const [writer, reader] = caches as [TieredCache<string>, TieredCache<string>]
    const version = await announce(writer, table)
    expect(await bed.redis.get(leaseKey('k'))).toMatch(new RegExp(`^${version}:`))
    // The transaction fails after the invalidation went out.
    writer.uncommitted('k', version)
    await vi.waitFor(async () => expect(await bed.redis.exists(leaseKey('k'))).toBe(0))
    const lookup = await reader.get('k')
    expect([lookup.value, lookup.level]).toEqual(['v1', 'DB'])
    expect(reader.stats().fillLeaseWaits).toBe(0)
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version })
  })

  it('a writer that never commits nor drops its lease holds it for at most maxWriteTime', async () => {
    const { table, caches } = await cluster(1)
    const version = await announce(caches[0] as TieredCache<string>, table)
    expect(await bed.redis.get(leaseKey('k'))).toMatch(new RegExp(`^${version}:`))
    const ttl = await bed.redis.pttl(leaseKey('k'))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(5_000) // maxWriteTime's default
  })

  it('a delete fills a cached miss; an invalidation without { fill } takes no lease', async () => {
    const { table, caches } = await cluster(2)
    const [writer, reader] = caches as [TieredCache<string>, TieredCache<string>]
    await writer.invalidate('k', 2)
    expect(await bed.redis.exists(leaseKey('k'))).toBe(0)
    await writer.invalidate('k', 2, { fill: true })
    table.rows.delete('k')
    await writer.committed('k', { absent: true, version: 2 })
    expect(await l2Record('k')).toMatchObject({ kind: 'absent', version: 2 })
    const lookup = await reader.get('k')
    expect([lookup.found, lookup.level]).toEqual([false, 'L2'])
    expect(table.loads).toBe(0)
  })

  it('fills nothing in a mode whose replicas do not read L2 (l1), and takes no lease', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const writer = await bed.caches.create({ loader: table.loader, mode: 'l1', l2: LONG_WAIT })
    const version = await announce(writer, table)
    expect(await bed.redis.exists(leaseKey('k'))).toBe(0)
    table.write('k', 'v2')
    await writer.committed('k', { value: 'v2', version })
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version })
    expect(writer.stats().writeFills).toBe(0)
  })
  it('fills under its fence’s generation, also with the lease off, and not at all without its announcement', async () => {
    const { table, caches } = await cluster(1, { fillLeaseWait: 0 })
    const writer = caches[0] as TieredCache<string>
    await announce(writer, table)
    const version = table.write('k', 'v2')
    // A clear between the fence and the fill: the fill keeps the fence's generation, so readers
    // of the new generation never serve the row written before the clear.
    const before = (await l2Record('k'))?.generation
    await writer.clear()
    await writer.committed('k', { value: 'v2', version })
    expect(await l2Record('k')).toMatchObject({ kind: 'value', version, generation: before })
    // A commit the cache was never told of (no invalidate with { fill }): nothing to fill with.
    const other = table.write('other', 'x')
    await writer.committed('other', { value: 'x', version: other })
    expect(await l2Record('other')).toBeUndefined()
  })
})
