import { describe, expect, it, vi } from 'vitest'
import type { Loaded, TieredCache } from '../src/index.js'
import { Partitioning } from '../src/partitions.js'
import { decodeL2Record } from '../src/stores/l2-record.js'
import { deferred } from '../src/testing/index.js'
import { commandCounts, useRedisTestbed, VersionedTable } from './helpers.js'

const bed = useRedisTestbed()

/**
 * A loader over `table` whose calls are held: each reads its row when called (as a query would),
 * then waits for `release()`. `called` resolves at the first call.
 */
function heldLoader(table: VersionedTable) {
  const gate = deferred()
  const called = deferred()
  let calls = 0
  const loader = async (key: string): Promise<Loaded<string>> => {
    calls++
    const row = await table.loader(key)
    called.resolve()
    await gate.promise
    return row
  }
  return { loader, called: called.promise, release: () => gate.resolve(), calls: () => calls }
}

/** A table holding `k` at v1, and a held loader over it. */
function heldTable() {
  const table = new VersionedTable()
  table.write('k', 'v1')
  return { table, held: heldLoader(table) }
}

const waits = (...caches: TieredCache<string>[]) =>
  caches.reduce((sum, cache) => sum + cache.stats().fillLeaseWaits, 0)

/** A table with `k` at v1, written to v2 and announced through `writer`: L2 holds the fence. */
async function writtenOnce(writer: TieredCache<string>, table: VersionedTable) {
  await writer.invalidate('k', table.write('k', 'v2'))
}

async function l2Version(key: string): Promise<number | undefined> {
  const raw = await bed.redis.get(Partitioning.single(bed.prefix).redisKey(key))
  return raw === null ? undefined : decodeL2Record(raw)?.version
}

describe('fill leases: one load per key cluster-wide', () => {
  it('three instances missing a key after a write at once: the loader runs once, the others are served its fill', async () => {
    const { table, held } = heldTable()
    // Long enough that no waiter gives up before the test releases the load.
    const options = { loader: held.loader, l2: { fillLeaseWait: 30_000 } }
    const [a, b, c] = (await Promise.all([0, 1, 2].map(() => bed.caches.create(options)))) as [
      TieredCache<string>,
      TieredCache<string>,
      TieredCache<string>,
    ]
    await writtenOnce(a, table)
    const reads = [a, b, c].map((cache) => cache.get('k'))
    await held.called
    // Two of them find the lease held and wait; only then does the load come back.
    await vi.waitFor(() => expect(waits(a, b, c)).toBe(2), { timeout: 10_000 })
    held.release()
    const lookups = await Promise.all(reads)
    expect(lookups.map((lookup) => lookup.value)).toEqual(['v2', 'v2', 'v2'])
    expect(lookups.map((lookup) => lookup.level).sort()).toEqual(['DB', 'L2', 'L2'])
    expect(held.calls()).toBe(1)
    const stats = [a, b, c].map((cache) => cache.stats())
    expect(stats.reduce((sum, s) => sum + s.fillLeaseFills, 0)).toBe(2)
    expect(stats.reduce((sum, s) => sum + s.fillLeaseTimeouts, 0)).toBe(0)
    expect(stats.reduce((sum, s) => sum + s.dbReads, 0)).toBe(1)
    // Spent, the lease is dropped: kept, it would hold up readers once the fill expires.
    await vi.waitFor(async () => expect(await bed.redis.exists(`${bed.prefix}:l:k`)).toBe(0))
  })

  it('without fill leases (fillLeaseWait 0) each instance loads for itself', async () => {
    const { table, held } = heldTable()
    const options = { loader: held.loader, l2: { fillLeaseWait: 0 } }
    const a = await bed.caches.create(options)
    const b = await bed.caches.create(options)
    await writtenOnce(a, table)
    const reads = [a.get('k'), b.get('k')]
    await vi.waitFor(() => expect(held.calls()).toBe(2), { timeout: 10_000 })
    held.release()
    expect((await Promise.all(reads)).map((lookup) => lookup.level)).toEqual(['DB', 'DB'])
    expect(waits(a, b)).toBe(0)
  })

  it('a holder that dies: its waiters load once the wait is over, and its lease expires', async () => {
    const { table, held } = heldTable()
    const maxLoadTime = 2_000
    const holder = await bed.caches.create({ loader: held.loader, maxLoadTime })
    const waiter = await bed.caches.create({
      loader: table.loader,
      maxLoadTime,
      l2: { fillLeaseWait: 100 },
    })
    await writtenOnce(holder, table)
    void holder.get('k')
    await held.called
    const leaseKey = `${bed.prefix}:l:k`
    const ttl = await bed.redis.pttl(leaseKey)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(maxLoadTime)
    await holder.close()
    const started = performance.now()
    expect(await waiter.get('k')).toMatchObject({ value: 'v2', level: 'DB' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(99)
    expect(waiter.stats()).toMatchObject({ fillLeaseWaits: 1, fillLeaseTimeouts: 1 })
    // The waiter's load filled L2: the next reader is served there, without waiting.
    expect(await l2Version('k')).toBe(2)
    // The lease goes by itself: PX, bounded by maxLoadTime.
    await vi.waitFor(async () => expect(await bed.redis.exists(leaseKey)).toBe(0), {
      timeout: maxLoadTime + 5_000,
      interval: 100,
    })
    held.release()
  })

  it('a holder whose load fails drops its lease: a waiter takes it and loads at once', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const failing = deferred<Loaded<string>>()
    const failed = deferred()
    const holder = await bed.caches.create({
      loader: () => {
        failed.resolve()
        return failing.promise
      },
    })
    const waiter = await bed.caches.create({
      loader: table.loader,
      l2: { fillLeaseWait: 30_000 },
    })
    await writtenOnce(holder, table)
    const lost = holder.get('k')
    await failed.promise
    const read = waiter.get('k')
    await vi.waitFor(() => expect(waiter.stats().fillLeaseWaits).toBe(1), { timeout: 10_000 })
    failing.reject(new Error('database down'))
    await expect(lost).rejects.toThrow('database down')
    // Far sooner than the 30 s wait: the dropped lease was taken over.
    expect(await read).toMatchObject({ value: 'v2', level: 'DB' })
    expect(waiter.stats().fillLeaseTimeouts).toBe(0)
  })

  it('a write during a lease: the old load is refused, no waiter is served it, readers of the new version are not held', async () => {
    const { table, held } = heldTable()
    const holder = await bed.caches.create({ loader: held.loader })
    const options = { loader: table.loader, l2: { fillLeaseWait: 30_000 } }
    const waiter = await bed.caches.create(options)
    const writer = await bed.caches.create(options)
    const reader = await bed.caches.create(options)
    await writtenOnce(writer, table)
    // The holder loads v2 and is held there.
    const old = holder.get('k')
    await held.called
    const waited = waiter.get('k')
    await vi.waitFor(() => expect(waiter.stats().fillLeaseWaits).toBe(1), { timeout: 10_000 })
    // v3 is written while the holder's lease (taken for v2) still holds.
    await writer.invalidate('k', table.write('k', 'v3'))
    // A reader that knows of v3 is not held for the v2 lease: it takes the lease over and loads.
    expect(await reader.get('k')).toMatchObject({ value: 'v3', level: 'DB' })
    expect(reader.stats().fillLeaseWaits).toBe(0)
    expect(await waited).toMatchObject({ value: 'v3' })
    held.release()
    // The holder's own caller asked before v3 was written: v2 is what it read.
    expect(await old).toMatchObject({ value: 'v2', level: 'DB' })
    expect(await l2Version('k')).toBe(3)
    for (const cache of [holder, waiter, writer, reader]) {
      expect(await cache.get('k')).toMatchObject({ value: 'v3' })
    }
  })

  it('a load’s set drops its lease in the same script: two scripts per load, and no lease left', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const cache = await bed.caches.create({ loader: table.loader })
    const before = await commandCounts(bed.redis)
    expect(await cache.get('k')).toMatchObject({ value: 'v1', level: 'DB' })
    expect(await bed.redis.exists(Partitioning.single(bed.prefix).leaseKey('k'))).toBe(0)
    // The lease taken (fill-lease.lua), then the set that drops it (set.lua): no separate drop.
    const after = await commandCounts(bed.redis)
    expect(after.evalsha - before.evalsha).toBe(2)
    // One GET, the client's L2 lookup: the scripts read the lease with GETRANGE, so a read's
    // round trips can be told from INFO commandstats (loadtests' Redis commands per read).
    expect(after.get - before.get).toBe(1)
  })

  it('costs no extra Redis round trip on an L2 hit', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const a = await bed.caches.create({ loader: table.loader, mode: 'l2' })
    const b = await bed.caches.create({ loader: table.loader, mode: 'l2' })
    expect(await a.get('k')).toMatchObject({ level: 'DB' })
    const before = await commandCounts(bed.redis)
    expect(await b.get('k')).toMatchObject({ level: 'L2' })
    const after = await commandCounts(bed.redis)
    expect(after.evalsha - before.evalsha).toBe(0)
    expect(after.get - before.get).toBe(1)
  })
})
