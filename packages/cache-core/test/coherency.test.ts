import { describe, expect, it } from 'vitest'
import type { Loaded } from '../src/index.js'
import { decodeL2Record } from '../src/stores/l2-record.js'
import { ControllableL2Store, deferred } from '../src/testing/index.js'
import { nextEvent, twoCachesOverK, useRedisTestbed, VersionedTable } from './helpers.js'

const bed = useRedisTestbed()

/** The L2 record for a key, read straight from Redis. */
const l2Record = async (key: string) => {
  const raw = await bed.redis.get(`${bed.prefix}:k:${key}`)
  return raw === null ? undefined : decodeL2Record(raw)
}

describe('no stale set', () => {
  it('does not install a row loaded before a newer write (loader delayed)', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const gate = deferred()
    const loaderStarted = deferred()
    const slowLoader = async (key: string): Promise<Loaded<string>> => {
      const row = await table.loader(key) // reads the old row now…
      loaderStarted.resolve()
      await gate.promise // …and is held before the cache installs it
      return row
    }
    const reader = await bed.caches.create({ loader: slowLoader, instanceId: 'reader' })
    const writer = await bed.caches.create({ loader: table.loader, instanceId: 'writer' })

    const pendingRead = reader.get('k')
    await loaderStarted.promise
    const heard = nextEvent(reader, 'invalidate', (e) => e.key === 'k')
    const newVersion = table.write('k', 'new')
    await writer.invalidate('k', newVersion)
    await heard
    gate.resolve()

    // The read began before the write, so answering the old row is allowed…
    expect(await pendingRead).toMatchObject({ value: 'old', version: 1, level: 'DB' })
    // …but neither tier may keep it.
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version: 2 })
    // The invalidation detached the load: it installs nothing, in either tier.
    expect(reader.stats().discardedLoads).toBe(1)
    const next = await reader.get('k')
    expect(next).toMatchObject({ value: 'new', version: 2, level: 'DB' })
  })

  it('does not install a row loaded before a write made on the same instance', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const gate = deferred()
    const loaderStarted = deferred()
    const cache = await bed.caches.create({
      loader: async (key) => {
        const row = await table.loader(key)
        loaderStarted.resolve()
        await gate.promise
        return row
      },
    })
    const pendingRead = cache.get('k')
    await loaderStarted.promise
    await cache.invalidate('k', table.write('k', 'new'))
    // A read that starts after the write must not join the load that started before it.
    const readAfterWrite = cache.get('k')
    gate.resolve()
    expect(await pendingRead).toMatchObject({ value: 'old', level: 'DB' })
    expect(await readAfterWrite).toMatchObject({ value: 'new', version: 2 })
    expect(await cache.get('k')).toMatchObject({ value: 'new', version: 2, level: 'L1' })
  })

  it('does not let a read after the commit join a load that started before it (invalidate before commit)', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const gate = deferred()
    const loaderStarted = deferred()
    let held = true
    const cache = await bed.caches.create({
      loader: async (key) => {
        const row = await table.loader(key)
        if (held) {
          held = false
          loaderStarted.resolve()
          await gate.promise
        }
        return row
      },
    })
    // The API's write: invalidate inside the transaction, then COMMIT, then evictLocal.
    await cache.invalidate('k', 2)
    const readBeforeCommit = cache.get('k') // reads the old, still committed row
    await loaderStarted.promise
    table.write('k', 'new') // COMMIT
    cache.evictLocal('k', 2)
    const readAfterCommit = cache.get('k')
    gate.resolve()
    expect(await readBeforeCommit).toMatchObject({ value: 'old', version: 1 })
    expect(await readAfterCommit).toMatchObject({ value: 'new', version: 2 })
  })

  it('does not serve or promote an L2 read that returns after the invalidation arrived', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const seeder = await bed.caches.create({ loader: table.loader, instanceId: 'seeder' })
    await seeder.get('k') // L2 now holds version 1
    const l2 = new ControllableL2Store()
    const reader = await bed.caches.create({
      loader: table.loader,
      instanceId: 'reader',
      wrapL2: l2.wrap,
    })

    const held = l2.holdNextGet()
    const pendingRead = reader.get('k')
    await held.reached // Redis has answered with version 1; the cache has not seen it yet
    const heard = nextEvent(reader, 'invalidate', (e) => e.key === 'k')
    await seeder.invalidate('k', table.write('k', 'new'))
    await heard
    held.release()

    // The record is older than a write the reader knows of: a miss, so the read loads the row.
    expect(await pendingRead).toMatchObject({ value: 'new', version: 2, level: 'DB' })
    expect(reader.stats()).toMatchObject({ promotions: 0, staleSetsRejected: 1 })
  })

  it('keeps a newer fence when an older invalidation arrives late', async () => {
    const table = new VersionedTable()
    const cache = await bed.caches.create({ loader: table.loader })
    await cache.invalidate('k', 5)
    await cache.invalidate('k', 3)
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version: 5 })
  })
})

describe('cross-instance invalidation', () => {
  it('evicts the key from every other instance L1 when one instance writes', async () => {
    const { table, a, b } = await twoCachesOverK(bed, { instanceId: 'a' }, { instanceId: 'b' })
    await a.get('k')
    expect(await a.get('k')).toMatchObject({ level: 'L1', version: 1 })

    const heard = nextEvent(a, 'invalidate')
    await b.invalidate('k', table.write('k', 'v2'))
    expect(await heard).toEqual({ key: 'k', version: 2, origin: b.origin, local: false })
    expect(b.origin).toMatch(/^b~[0-9a-f]{12}$/)
    expect(await a.get('k')).toMatchObject({ value: 'v2', version: 2 })
    expect(a.stats().invalidationsReceived).toBe(1)
    expect(b.stats().invalidationsSent).toBe(1)
  })

  it('skips its own messages on the bus', async () => {
    const table = new VersionedTable()
    const a = await bed.caches.create({ loader: table.loader, instanceId: 'a' })
    const b = await bed.caches.create({ loader: table.loader, instanceId: 'b' })
    const heardByB = nextEvent(b, 'invalidate')
    await a.invalidate('k', 1)
    await heardByB // b heard it, so a's copy of the same message has been delivered too
    expect(a.stats().invalidationsReceived).toBe(0)
  })
})

describe('clear', () => {
  it('empties every instance L1 and L2 without scanning Redis', async () => {
    const table = new VersionedTable()
    table.write('x', '1')
    table.write('y', '2')
    const a = await bed.caches.create({ loader: table.loader, instanceId: 'a' })
    const b = await bed.caches.create({ loader: table.loader, instanceId: 'b' })
    for (const key of ['x', 'y']) {
      await a.get(key)
      await b.get(key)
    }
    expect(b.stats().l1Size).toBe(2)

    const heard = nextEvent(b, 'clear')
    await a.clear()
    await heard
    expect(a.stats().l1Size).toBe(0)
    expect(b.stats().l1Size).toBe(0)
    const loadsBefore = table.loads
    expect(await b.get('x')).toMatchObject({ level: 'DB' })
    expect(await a.get('y')).toMatchObject({ level: 'DB' })
    expect(table.loads).toBe(loadsBefore + 2)
  })

  it('reads nothing from L2 between hearing a clear and reading the new generation from Redis', async () => {
    const table = new VersionedTable()
    table.write('x', '1')
    const l2 = new ControllableL2Store()
    const a = await bed.caches.create({ loader: table.loader, instanceId: 'a' })
    const b = await bed.caches.create({ loader: table.loader, instanceId: 'b', wrapL2: l2.wrap })
    await a.get('x') // L2 now holds x under the old generation

    const held = l2.holdNextSyncGeneration()
    const heard = nextEvent(b, 'clear')
    await a.clear()
    await held.reached // b heard the clear; the new generation is read but not yet seen
    const loads = table.loads
    expect(await b.get('x')).toMatchObject({ value: '1', level: 'DB' })
    expect(table.loads).toBe(loads + 1)
    held.release()
    expect(await heard).toMatchObject({ generation: a.stats().generation, origin: a.origin })
    expect(b.stats().generation).toBe(a.stats().generation)
  })

  it('reads the current generation when it starts, so a cleared L2 stays cleared', async () => {
    const table = new VersionedTable()
    table.write('x', '1')
    const a = await bed.caches.create({ loader: table.loader })
    await a.get('x')
    await a.clear()
    const late = await bed.caches.create({ loader: table.loader })
    expect(await late.get('x')).toMatchObject({ level: 'DB' })
  })
})
