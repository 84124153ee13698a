import { setTimeout as sleep } from 'node:timers/promises'
import { startRedisServer } from '@strata/test-servers'
import { startTcpProxy, type TcpProxy } from '@strata/testkit'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { RedisBus } from '../src/bus/redis-bus.js'
import { InvalidationError, type Loaded, type TieredCache } from '../src/index.js'
import { Partitioning } from '../src/partitions.js'
import { commandConnectionOptions, SUBSCRIBER_OPTIONS } from '../src/redis-connection.js'
import { decodeL2Record, encodeL2Record } from '../src/stores/l2-record.js'
import { RedisStore } from '../src/stores/redis-store.js'
import { ControllableL2Store, deferred } from '../src/testing/index.js'
import { nextEvent, twoCachesOverK, useRedisTestbed, VersionedTable } from './helpers.js'

// One test (at least) per rule of the coherency protocol v2 (docs/protocol.md). Each forces its
// interleaving with held loaders, held L2 calls, killed connections or a restarted Redis, and
// fails on the v1 code it replaced.

const bed = useRedisTestbed()

const l2Record = async (key: string) => {
  const raw = await bed.redis.get(`${bed.prefix}:k:${key}`)
  return raw === null ? undefined : decodeL2Record(raw)
}

/** Polls a condition every 10 ms until it holds, for at most 10 s. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s')
    await sleep(10)
  }
}

/** A loader over `table` whose held call reads the row at once and returns it on `release()`. */
function heldLoader(table: VersionedTable) {
  let held: { started: () => void; gate: Promise<void> } | undefined
  return {
    loader: async (key: string): Promise<Loaded<string>> => {
      const row = await table.loader(key)
      const hold = held
      held = undefined
      if (hold) {
        hold.started()
        await hold.gate
      }
      return row
    },
    /** Holds the next load after it has read the row. */
    holdNext() {
      const started = deferred()
      const gate = deferred()
      held = { started: () => started.resolve(), gate: gate.promise }
      return { started: started.promise, release: () => gate.resolve() }
    },
  }
}

/** Restarts the test Redis (no persistence: every key is lost) and waits for `caches` to resync. */
/** Blocks the event loop for `ms`, as a GC pause or a busy core would. */
function stallEventLoop(ms: number): void {
  const stalledUntil = performance.now() + ms
  while (performance.now() < stalledUntil) {
    // busy
  }
}

/**
 * A cache (maxLoadTime 50 ms) whose read of `k` (v1) is loading, held until the load is older
 * than maxLoadTime whatever the machine; `hold.release()` lets it finish.
 */
async function loadOlderThanMaxLoadTime() {
  const table = new VersionedTable()
  table.write('k', 'v1')
  const held = heldLoader(table)
  const cache = await bed.caches.create({ loader: held.loader, maxLoadTime: 50 })
  const hold = held.holdNext()
  const pending = cache.get('k')
  await hold.started
  await sleep(100)
  return { table, cache, hold, pending }
}

async function restartRedis(...caches: TieredCache<string>[]): Promise<void> {
  const down = caches.map((cache) => nextEvent(cache, 'bus', (e) => e.state === 'down'))
  await bed.server.stop()
  await Promise.all(down)
  await bed.server.start()
  for (const cache of caches) expect(await cache.whenReady(10_000)).toBe(true)
  // A command that failed while Redis was away may have opened the breaker: wait for its probe.
  await until(() => caches.every((cache) => cache.health().l2 !== 'down'))
}

describe('L2 reads and loads never hand out what a known write made stale (item 1)', () => {
  it('misses an L2 record older than a fence this instance knows, however it got there', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const reader = await bed.caches.create({ loader: table.loader, instanceId: 'reader' })
    const writer = await bed.caches.create({ loader: table.loader, instanceId: 'writer' })
    const heard = nextEvent(reader, 'invalidate', (e) => e.key === 'k')
    await writer.invalidate('k', table.write('k', 'new'))
    await heard
    // A slow set of the old row lands after its fence is gone (expired, or lost in a restart).
    const stale = encodeL2Record({
      kind: 'value',
      version: 1,
      expiresAt: Date.now() + 60_000,
      generation: reader.stats().generation,
      payload: JSON.stringify('old'),
    })
    await bed.redis.set(`${bed.prefix}:k:k`, stale)

    expect(await reader.get('k')).toMatchObject({ value: 'new', version: 2, level: 'DB' })
    expect(reader.stats().staleSetsRejected).toBeGreaterThanOrEqual(1)
  })

  it('writes nothing to L2 from a load that a bus drop detached', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const held = heldLoader(table)
    const cache = await bed.caches.create({ loader: held.loader })
    const hold = held.holdNext()
    const pending = cache.get('k')
    await hold.started
    const down = nextEvent(cache, 'bus', (e) => e.state === 'down')
    await bed.redis.client('KILL', 'TYPE', 'pubsub')
    await down // the write this replica may now miss could be anything
    hold.release()

    expect(await pending).toMatchObject({ value: 'v1', level: 'DB' })
    expect(await l2Record('k')).toBeUndefined()
    expect(cache.stats().discardedLoads).toBe(1)
    expect(await cache.whenReady(10_000)).toBe(true)
  })

  it('never sends a command again after a reconnect: a late set could land on an emptied Redis', () => {
    expect(commandConnectionOptions()).toMatchObject({ autoResendUnfulfilledCommands: false })
    expect(SUBSCRIBER_OPTIONS).toMatchObject({ autoResendUnfulfilledCommands: false })
  })

  it('notices that Redis lost its data and installs nothing from loads that start within maxWriteTime', async () => {
    // A quarantine far longer than the test: every load below starts inside it.
    const { a, b } = await twoCachesOverK(bed, { maxWriteTime: 60_000 })
    await a.get('k')
    const generation = a.stats().generation
    const lossA = nextEvent(a, 'data-loss')
    const lossB = nextEvent(b, 'data-loss')
    await restartRedis(a, b)
    // Both see it, whichever repaired the generation first.
    expect(await lossA).toMatchObject({ quarantineMs: 60_000 })
    await lossB
    expect(a.stats().generation).toBeGreaterThan(generation)
    expect(b.stats().generation).toBe(a.stats().generation)

    // A write fenced just before the restart may still be committing: nothing loaded now is kept.
    expect(await a.get('k')).toMatchObject({ value: 'v1', level: 'DB' })
    expect(await a.get('k')).toMatchObject({ value: 'v1', level: 'DB' })
    expect(await l2Record('k')).toBeUndefined()
    expect(a.stats()).toMatchObject({ dataLosses: 1 })
  })
})

describe('a read after the acknowledgement never joins a load that read the row before it (item 2)', () => {
  it('hands a joiner that knew of a pending write a row loaded after it arrived', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const held = heldLoader(table)
    const reader = await bed.caches.create({ loader: held.loader, instanceId: 'reader' })
    const writer = await bed.caches.create({ loader: table.loader, instanceId: 'writer' })

    // The write: invalidate inside the transaction; the reader hears it before COMMIT.
    const heard = nextEvent(reader, 'invalidate', (e) => e.key === 'k')
    await writer.invalidate('k', 2)
    await heard
    const hold = held.holdNext()
    const beforeCommit = reader.get('k') // starts a load that reads the still-committed old row
    await hold.started
    table.write('k', 'new') // COMMIT
    writer.evictLocal('k', 2) // … and the 200
    const afterAck = reader.get('k') // joins the load in flight
    hold.release()

    expect(await beforeCommit).toMatchObject({ value: 'old', version: 1 })
    expect(await afterAck).toMatchObject({ value: 'new', version: 2 })
    expect(reader.stats().joinRetries).toBe(1)
  })

  it('still shares one load among joiners when nothing newer is known', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const cache = await bed.caches.create({ loader: table.loader })
    const reads = await Promise.all(Array.from({ length: 20 }, () => cache.get('k')))
    expect(new Set(reads.map((read) => read.version))).toEqual(new Set([1]))
    expect(table.loads).toBe(1)
    expect(cache.stats().joinRetries).toBe(0)
  })
})

describe('without the lease, a replica trusts nothing shared (found by the model)', () => {
  /**
   * A reader whose Redis link runs through a proxy the test can stall, with a 200 ms bus lease,
   * and a writer, for the length of `test`. `reader` adds to or overrides the reader's options.
   */
  async function withSilentReader(
    table: VersionedTable,
    reader: Partial<Parameters<typeof bed.caches.create>[0]>,
    test: (caches: {
      proxy: TcpProxy
      reader: TieredCache<string>
      writer: TieredCache<string>
    }) => Promise<void>,
  ) {
    const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: bed.server.port } })
    try {
      await test({
        proxy,
        reader: await bed.caches.create({
          loader: table.loader,
          instanceId: 'reader',
          redis: `redis://127.0.0.1:${proxy.port}`,
          busLease: 200,
          redisCommandTimeout: 30_000,
          ...reader,
        }),
        writer: await bed.caches.create({ loader: table.loader, instanceId: 'writer' }),
      })
    } finally {
      proxy.resume()
      await proxy.close()
    }
  }

  /** Stalls the reader's Redis link; resolves once the reader has seen its bus lease run out. */
  function cutOff(proxy: TcpProxy, reader: TieredCache<string>) {
    proxy.stall()
    return nextEvent(reader, 'lease', (e) => !e.held)
  }

  it('does not let a read join a load that began before the lease ran out', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const held = heldLoader(table)
    await withSilentReader(table, { loader: held.loader }, async ({ proxy, reader, writer }) => {
      const hold = held.holdNext()
      const before = reader.get('k') // a load that reads the old row
      await hold.started
      const lapsed = cutOff(proxy, reader) // the invalidation below is held up on its way
      await writer.invalidate('k', 2)
      table.write('k', 'new') // COMMIT, and the 200
      await lapsed
      // The lease ran out after the acknowledgement: this read owes the new version.
      const after = reader.get('k')
      proxy.resume() // its own load may now set L2 (the fence there refuses nothing newer)
      hold.release()
      expect(await before).toMatchObject({ value: 'old', version: 1 })
      expect(await after).toMatchObject({ value: 'new', version: 2, level: 'DB' })
    })
  })

  it('reads no L2 while the lease is out, where a record a lost fence let in could wait', async () => {
    const table = new VersionedTable()
    table.write('k', 'old')
    const l2 = new ControllableL2Store()
    const options = {
      // The link stays stalled during the read: its L2 set gives up quickly.
      redisCommandTimeout: 200,
      wrapL2: l2.wrap,
    }
    await withSilentReader(table, options, async ({ proxy, reader, writer }) => {
      const lapsed = cutOff(proxy, reader)
      await writer.invalidate('k', table.write('k', 'new'))
      await lapsed
      // L2 could hold anything here (a record written after a lost fence, which the held-up
      // invalidation would have made a miss): the read goes to the source without asking.
      const gets = l2.calls.get
      expect(await reader.get('k')).toMatchObject({ value: 'new', version: 2, level: 'DB' })
      expect(l2.calls.get).toBe(gets)
    })
  })

  it('waits for a lease that ran out only because a heartbeat came back late, then reads L2', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const writer = await bed.caches.create({ loader: table.loader })
    await writer.get('k') // L2 holds k
    const reader = await bed.caches.create({ loader: table.loader, busLease: 1_000 })
    // A stall longer than the lease: no heartbeat could come back meanwhile.
    stallEventLoop(1_100)
    const loads = table.loads
    // The next heartbeat back renews the lease well within the lease's length: served from L2.
    expect(await reader.get('k')).toMatchObject({ value: 'v1', level: 'L2' })
    expect(table.loads).toBe(loads)
  })

  it('does not let a read join a load older than maxLoadTime', async () => {
    const { table, cache, hold, pending: old } = await loadOlderThanMaxLoadTime()
    // Its fence may have expired since.
    table.write('k', 'v2')
    const fresh = cache.get('k')
    expect(await fresh).toMatchObject({ value: 'v2', version: 2 })
    hold.release()
    expect(await old).toMatchObject({ value: 'v1', version: 1 })
    expect(table.loads).toBe(2)
  })
})

describe('the bus tells processes apart, whatever their labels (item 3)', () => {
  it('hears invalidations from another process with the same instance id', async () => {
    const { table, a, b } = await twoCachesOverK(
      bed,
      { instanceId: 'copied-config' },
      { instanceId: 'copied-config' },
    )
    await a.get('k')
    expect(a.peek('k')).toMatchObject({ version: 1 })
    expect(a.origin).not.toBe(b.origin)
    const heard = nextEvent(a, 'invalidate', (e) => e.key === 'k')
    await b.invalidate('k', table.write('k', 'v2'))
    expect(await heard).toMatchObject({ origin: b.origin })
    expect(await a.get('k')).toMatchObject({ value: 'v2', version: 2 })
  })
})

describe('every write fences and publishes, whatever the writer reads through (item 4)', () => {
  it('an l2-mode writer still evicts the key from the L1 of a multi-mode replica', async () => {
    const {
      table,
      a: reader,
      b: writer,
    } = await twoCachesOverK(bed, { mode: 'multi' }, { mode: 'l2' })
    await reader.get('k')
    expect(reader.peek('k')).toMatchObject({ version: 1 })
    const heard = nextEvent(reader, 'invalidate', (e) => e.key === 'k')
    await writer.invalidate('k', table.write('k', 'v2'))
    await heard
    expect(reader.peek('k')).toBeUndefined()
    expect(await reader.get('k')).toMatchObject({ value: 'v2', version: 2 })
  })
})

describe('the lease is checked on the read itself (item 5)', () => {
  it('serves nothing from L1 once the lease has run out, even when the event loop stalled past it', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const cache = await bed.caches.create({ loader: table.loader, busLease: 200 })
    await cache.get('k')
    expect(cache.peek('k')).toMatchObject({ level: 'L1' })
    // A stall (GC, a busy core): no timer or heartbeat can run, so no flag can be turned off.
    stallEventLoop(400)
    expect(cache.peek('k')).toBeUndefined()
    const read = cache.get('k') // same turn: the lease is still over
    expect((await read).level).not.toBe('L1')
    // The next heartbeat back renews it.
    await until(() => cache.peek('k') !== undefined)
  })
})

describe('a load older than maxLoadTime installs nothing (item 7)', () => {
  it('returns what it read to its caller, and keeps it out of L1 and L2', async () => {
    // As on a paused replica.
    const { cache, hold, pending } = await loadOlderThanMaxLoadTime()
    hold.release()
    expect(await pending).toMatchObject({ value: 'v1', level: 'DB' })
    expect(cache.peek('k')).toBeUndefined()
    expect(await l2Record('k')).toBeUndefined()
    expect(cache.stats().discardedLoads).toBe(1)
  })

  it('refuses a fenceTtl that does not outlast a write and a load', async () => {
    const table = new VersionedTable()
    await expect(
      bed.caches.create({
        loader: table.loader,
        fenceTtl: 10_000,
        maxLoadTime: 8_000,
        maxWriteTime: 5_000,
      }),
    ).rejects.toThrow(/fenceTtl.*more than maxWriteTime \+ maxLoadTime/)
  })
})

describe('the clear generation survives a Redis restart (item 8)', () => {
  it('a clear after the restart still empties L2 for every replica', async () => {
    const { a, b } = await twoCachesOverK(bed, { maxWriteTime: 1 })
    for (let i = 0; i < 3; i++) await a.clear()
    const beforeRestart = a.stats().generation
    await restartRedis(a, b)
    expect(a.stats().generation).toBeGreaterThan(beforeRestart)

    await sleep(10) // past the 1 ms quarantine that follows the restart
    await a.get('k') // L2 holds k under the current generation
    expect(await b.get('k')).toMatchObject({ level: 'L2' })
    const heard = nextEvent(b, 'clear')
    await a.clear()
    await heard
    expect(await b.get('k')).toMatchObject({ level: 'DB' })
    expect(b.stats().generation).toBe(a.stats().generation)
  })
})

describe('a refused write takes its fences back (item 10)', () => {
  it('leaves the key cacheable at its committed version, here and in Redis', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const l2 = new ControllableL2Store()
    const cache = await bed.caches.create({ loader: table.loader, wrapL2: l2.wrap })
    await cache.get('k')
    // The fence reaches Redis but its reply is lost: the write is refused (and rolled back).
    l2.loseNextFenceReply()
    await expect(cache.invalidate('k', 2)).rejects.toBeInstanceOf(InvalidationError)
    expect(cache.stats().fencesRestored).toBe(1)
    // Once Redis answers again, the fence this write left becomes a fence at the committed version.
    await until(async () => (await l2Record('k'))?.version === 1)
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version: 1 })

    expect(await cache.get('k')).toMatchObject({ value: 'v1', version: 1, level: 'DB' })
    expect(await cache.get('k')).toMatchObject({ value: 'v1', version: 1, level: 'L1' })
    expect(await l2Record('k')).toMatchObject({ kind: 'value', version: 1 })
  })

  it('takes back only the fence that write left, never a later write of the same version', async () => {
    const store = new RedisStore({
      redis: bed.redis,
      partitioning: Partitioning.single(bed.prefix),
    })
    await store.fence('k', 5, 0, 'write-a', 60_000, undefined)
    await store.fence('k', 5, 0, 'write-b', 60_000, undefined) // the retry of the key's write, after a's refusal
    expect(await store.unfence('k', 5, 0, 'write-a', 60_000)).toBe(false)
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version: 5, nonce: 'write-b' })
    expect(await store.unfence('k', 5, 0, 'write-b', 60_000)).toBe(true)
    expect(await l2Record('k')).toMatchObject({ kind: 'fence', version: 4 })
  })
})

describe('the lease is a self-echo on the channel, not a PING (item 12)', () => {
  /** A bus whose publisher and subscriber are on the given servers, and what it reported. */
  async function leaseOf(publisherUrl: string, subscriberUrl: string) {
    const publisher = new Redis(publisherUrl)
    const subscriber = new Redis(subscriberUrl, SUBSCRIBER_OPTIONS)
    const renewed = deferred()
    const lapsed = deferred()
    const bus = new RedisBus(
      {
        publisher,
        subscriber,
        channels: new Map([[`${bed.prefix}:bus`, 0]]),
        sharded: false,
        origin: 'self',
        lease: 100,
        heartbeatInterval: 0,
      },
      {
        onMessage: () => {},
        onState: () => {},
        onMalformed: () => {},
        onLease: () => renewed.resolve(),
        onLeaseLapsed: () => lapsed.resolve(),
      },
    )
    bus.start()
    const close = async () => {
      await bus.close()
      publisher.disconnect()
      subscriber.disconnect()
    }
    return { renewed: renewed.promise, lapsed: lapsed.promise, close }
  }

  it('renews the lease when its own heartbeat comes back through Redis', async () => {
    const lease = await leaseOf(bed.server.url, bed.server.url)
    try {
      await lease.renewed
    } finally {
      await lease.close()
    }
  })

  it('lets the lease lapse when the subscription does not carry the channel, though it answers PINGs', async () => {
    // The subscriber is alive and answers PINGs, but on another server (a proxy or a cluster
    // node that stopped forwarding): no invalidation published could reach it.
    const elsewhere = await startRedisServer()
    const lease = await leaseOf(bed.server.url, elsewhere.url)
    try {
      await lease.lapsed
      const renewedLate = await Promise.race([lease.renewed.then(() => true), sleep(300, false)])
      expect(renewedLate).toBe(false)
    } finally {
      await lease.close()
      await elsewhere.stop()
    }
  })
})
