import { type RedisCluster, startRedisCluster } from '@strata/test-servers'
import calculateSlot from 'cluster-key-slot'
import { type Cluster, Redis } from 'ioredis'
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  onTestFinished,
  vi,
} from 'vitest'
import { Generations } from '../src/generations.js'
import {
  type CacheEvents,
  connectRedisCluster,
  createTieredCache,
  type TieredCache,
  type TieredCacheOptions,
} from '../src/index.js'
import { Partitioning } from '../src/partitions.js'
import { RedisStore } from '../src/stores/redis-store.js'
import { deferred } from '../src/testing/index.js'
import { nextEvent, VersionedTable } from './helpers.js'

// Strata on a real Redis Cluster (3 masters, 3 replicas, cluster-node-timeout 1 s): keys and
// channels sharded by partition, one subscription and lease per master, and what a dead
// subscriber, a failover and a slot migration cost: only the partitions of the shard concerned.

let cluster: RedisCluster
let testNumber = 0
let prefix = ''
const clients: Cluster[] = []
const caches: TieredCache<string>[] = []

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1_000 })
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
})
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
  for (const client of clients.splice(0)) client.disconnect()
})

/** A cache on the cluster, ready; a fresh prefix per test keeps tests apart. */
async function clusterCache(
  table: VersionedTable,
  instanceId: string,
  options: Partial<Pick<TieredCacheOptions<string>, 'maxWriteTime' | 'loader' | 'l2'>> = {},
) {
  const redis = connectRedisCluster(cluster.seeds())
  clients.push(redis)
  const cache = createTieredCache<string>({
    redis,
    prefix,
    loader: table.loader,
    instanceId,
    // Long enough never to lapse on a busy machine (a starved event loop answers its heartbeat
    // seconds late; a lapse sends waiting readers to the loader): these tests take links down by
    // force.
    busLease: 30_000,
    heartbeatInterval: 0,
    ...options,
  })
  caches.push(cache)
  expect(await cache.whenReady(15_000)).toBe(true)
  return cache
}

/** The port of the master serving `slot` now, from a node's slot map. */
async function masterOfSlot(slot: number): Promise<number> {
  const masters = await cluster.masters()
  const probe = new Redis(cluster.adminUrl((masters[0] as { port: number }).port))
  try {
    const ranges = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
    const range = ranges.find(([from, to]) => from <= slot && slot <= to)
    if (!range) throw new Error(`slot ${slot} is not served`)
    return range[2][1]
  } finally {
    probe.disconnect()
  }
}

/** One key per master (and a second one in the same partition, a sentinel), by master port. */
async function keysByMaster(
  names: Partitioning,
): Promise<Map<number, { key: string; sentinel: string }>> {
  const found = new Map<number, { key: string; sentinel: string }>()
  const masters = (await cluster.masters()).length
  for (let i = 0; found.size < masters; i++) {
    const key = `key-${i}`
    const port = await masterOfSlot(names.slots[names.of(key)] as number)
    if (found.has(port)) continue
    let j = 0
    while (names.of(`sentinel-${i}-${j}`) !== names.of(key)) j++
    found.set(port, { key, sentinel: `sentinel-${i}-${j}` })
  }
  return found
}

const levelOf = async (cache: TieredCache<string>, key: string) => (await cache.get(key)).level

/** Waits for `b` to hear an invalidation of `key` (messages on one channel arrive in order). */
const heard = (cache: TieredCache<string>, key: string): Promise<CacheEvents['invalidate']> =>
  nextEvent(cache, 'invalidate', (event) => event.key === key && !event.local)

describe('a partition on a new master (G4)', () => {
  it("moves the generation past Redis's even when a clear this instance missed already moved it", async () => {
    const redis = connectRedisCluster(cluster.seeds())
    clients.push(redis)
    await new Promise((ready) => redis.once('ready', ready))
    const names = Partitioning.cluster(`g4-${Date.now()}`, 256)
    const store = new RedisStore({ redis, partitioning: names })
    const generations = new Generations(256)
    await generations.sync(store, [7])
    const known = generations.of(7)
    // Another instance's clear, which this one did not hear: Redis is at known + 1.
    expect(await store.bumpGeneration(known, 7)).toBe(known + 1)
    // Back on a new master, a set tagged known + 1 from before the failover may have landed:
    // the generation must move past it, not merely be adopted.
    expect(await generations.sync(store, [7], new Set([7]))).toEqual([7])
    expect(generations.of(7)).toBeGreaterThan(known + 1)
  })
})

describe("the cluster client's redirections", () => {
  it('survives a refused ASKING during a slot migration (no unhandled rejection ends the process)', async () => {
    // A user without ASKING: the client's ASKING before following an ASK is refused. Unpatched,
    // ioredis does not await it, and the refusal is an unhandled rejection (vitest fails on it).
    const masters = await cluster.masters()
    for (const node of cluster.nodes) {
      const admin = new Redis(cluster.adminUrl(node.port))
      await admin.call('ACL', 'SETUSER', 'noask', 'on', '>noask-pw', '~*', '&*', '+@all', '-asking')
      admin.disconnect()
    }
    const [from, to] = masters.map((node) => node.port) as [number, number]
    const client = connectRedisCluster([`redis://noask:noask-pw@127.0.0.1:${from}`])
    clients.push(client)
    await new Promise((ready) => client.once('ready', ready))
    let outcome = ''
    await cluster.migrateSlots(from, to, 1, {
      whileMigrating: async ([slot]) => {
        let key = ''
        for (let i = 0; key === ''; i++) if (calculateSlot(`ask-${i}`) === slot) key = `ask-${i}`
        // Not on the source: it answers ASK, and the client sends ASKING to the target.
        outcome = await client.get(key).then(
          () => 'answered',
          (error: Error) => error.message,
        )
      },
    })
    expect(outcome).not.toBe('')
    await cluster.migrateSlots(to, from, 1)
  })
})

describe('Strata on a Redis Cluster', () => {
  const names = Partitioning.cluster('strata', 256)
  beforeEach(() => {
    prefix = `t${++testNumber}`
  })

  it('keeps a key, its partition generation and its channel in one slot, partitions spread evenly', () => {
    for (const key of ['user:1', 'a', 'ü{x}y', '{tag}rest', '']) {
      const partition = names.of(key)
      const slot = calculateSlot(names.redisKey(key))
      expect(slot).toBe(names.slots[partition])
      expect(calculateSlot(names.generationKey(partition))).toBe(slot)
      expect(calculateSlot(names.channel(partition))).toBe(slot)
      expect(calculateSlot(names.leaseKey(key))).toBe(slot)
    }
    // `redis-cli --cluster create` splits the slots in three equal ranges: 85 or 86 each.
    const third = (slot: number) => Math.floor((slot * 3) / 16_384)
    const perThird = [0, 1, 2].map((t) => names.slots.filter((slot) => third(slot) === t).length)
    expect(perThird.sort()).toEqual([85, 85, 86])
    expect(new Set(names.slots).size).toBe(256)
  })

  it('reads through, shares L2 and invalidates across instances, with keys on every master', async () => {
    const table = new VersionedTable()
    const a = await clusterCache(table, 'a')
    const b = await clusterCache(table, 'b')
    const keys = [...(await keysByMaster(Partitioning.cluster(prefix, 256))).values()]
    expect(keys).toHaveLength(3)
    for (const { key } of keys) {
      table.write(key, `${key}-v1`)
      expect(await levelOf(a, key)).toBe('DB')
      expect(await levelOf(b, key)).toBe('L2')
      expect(await levelOf(b, key)).toBe('L1')
      const version = table.write(key, `${key}-v2`)
      const invalidated = heard(b, key)
      await a.invalidate(key, version)
      await invalidated
      expect(await b.get(key)).toMatchObject({ value: `${key}-v2`, level: 'DB' })
    }
    // Each master holds its part of L2: the entries of its own keys, nothing of the others'.
    for (const master of await cluster.masters()) {
      const node = new Redis(cluster.adminUrl(master.port))
      const held = await node.call('DBSIZE')
      node.disconnect()
      expect(Number(held)).toBeGreaterThan(0)
    }
  })

  it("loads once for two instances after a write, the fill lease in the key's slot, on every master", async () => {
    const table = new VersionedTable()
    const gate = deferred()
    let loads = 0
    const loader = async (key: string) => {
      loads++
      const row = await table.loader(key)
      await gate.promise
      return row
    }
    const options = { loader, l2: { fillLeaseWait: 30_000 } }
    const a = await clusterCache(table, 'a', options)
    const b = await clusterCache(table, 'b', options)
    const names = Partitioning.cluster(prefix, 256)
    const keys = [...(await keysByMaster(names)).values()].map(({ key }) => key)
    for (const key of keys) await a.invalidate(key, table.write(key, `${key}-v1`))
    // b reads once it has heard every write: a write heard during b's load discards that load
    // (and its fill), sending a's waiter to the loader, rightly but not what is tested here.
    await vi.waitFor(() => expect(b.stats().invalidationsReceived).toBe(keys.length), {
      timeout: 10_000,
    })
    const reads = keys.flatMap((key) => [a.get(key), b.get(key)])
    await vi.waitFor(() => expect(a.stats().fillLeaseWaits + b.stats().fillLeaseWaits).toBe(3), {
      timeout: 10_000,
    })
    // Each lease sits on the master that serves its key.
    for (const key of keys) {
      const node = new Redis(
        cluster.adminUrl(await masterOfSlot(calculateSlot(names.redisKey(key)))),
      )
      expect(await node.exists(names.leaseKey(key))).toBe(1)
      node.disconnect()
    }
    gate.resolve()
    const lookups = await Promise.all(reads)
    expect(lookups.map((lookup) => lookup.version)).toEqual(keys.flatMap(() => [1, 1]))
    expect(lookups.filter((lookup) => lookup.level === 'L2')).toHaveLength(3)
    expect(loads).toBe(3)
  })

  it('clears every shard: L1 and L2 of every partition, on every instance', async () => {
    const table = new VersionedTable()
    const a = await clusterCache(table, 'a')
    const b = await clusterCache(table, 'b')
    const keys = [...(await keysByMaster(Partitioning.cluster(prefix, 256))).values()]
    for (const { key } of keys) {
      table.write(key, 'v1')
      await a.get(key)
      expect(await levelOf(b, key)).toBe('L2')
      expect(await levelOf(b, key)).toBe('L1')
    }
    const generations = b.stats().generation
    await a.clear()
    // A sentinel's invalidation on the same channel arrives after the clear did.
    for (const { key, sentinel } of keys) {
      const after = heard(b, sentinel)
      await a.invalidate(sentinel, table.write(sentinel, 's'))
      await after
      await b.whenReady(5_000)
      // Neither L1 nor L2 (its entry is of the old generation) answers: the loader does.
      expect(await levelOf(b, key)).toBe('DB')
    }
    expect(b.stats().generation).toBeGreaterThan(generations)
  })

  it("a shard's lost subscriber stops that shard's keys only, and drops only them", async () => {
    const table = new VersionedTable()
    const b = await clusterCache(table, 'b')
    const keys = await keysByMaster(Partitioning.cluster(prefix, 256))
    for (const { key } of keys.values()) {
      table.write(key, 'v1')
      await b.get(key)
      expect(await levelOf(b, key)).toBe('L1')
    }
    const [victim, ...others] = [...keys.keys()]
    const down = nextEvent(b, 'bus', (event) => event.state === 'down')
    const node = new Redis(cluster.adminUrl(victim as number))
    await node.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    node.disconnect()
    await down
    expect(b.health().l1).toBe('bypassed')
    expect(await levelOf(b, keys.get(victim as number)?.key as string)).not.toBe('L1')
    for (const port of others) expect(await levelOf(b, keys.get(port)?.key as string)).toBe('L1')
    // Resubscribed on a new link: the other shards' keys were never dropped.
    expect(await b.whenReady(15_000)).toBe(true)
    const loads = table.loads
    for (const port of others) expect(await levelOf(b, keys.get(port)?.key as string)).toBe('L1')
    expect(table.loads).toBe(loads)
    expect(b.health()).toMatchObject({ l1: 'serving', bus: 'up' })
    // The same master serves it again: nothing was lost there, its keys cache again at once.
    const back = keys.get(victim as number)?.key as string
    await b.get(back)
    expect(await levelOf(b, back)).toBe('L1')
    expect(b.stats().dataLosses).toBe(0)
  })

  it('follows a slot migration: invalidations of a moved partition reach every instance', async () => {
    const table = new VersionedTable()
    const a = await clusterCache(table, 'a')
    const b = await clusterCache(table, 'b')
    const local = Partitioning.cluster(prefix, 256)
    const masters = (await cluster.masters()).map((node) => node.port)
    const [from, to, untouched] = masters as [number, number, number]
    const stay = (await keysByMaster(local)).get(untouched)?.key as string
    table.write(stay, 'v1')
    await b.get(stay)
    expect(await levelOf(b, stay)).toBe('L1')
    // The source's link hears Redis unsubscribe the moved channels, and is laid out again.
    const down = nextEvent(b, 'bus', (event) => event.state === 'down')
    // 128 slots from the end of `from`'s range hold two partitions (one every 64 slots).
    const moved = new Set(await cluster.migrateSlots(from, to, 128))
    let key = ''
    for (let i = 0; key === ''; i++) {
      if (moved.has(local.slots[local.of(`moved-${i}`)] as number)) key = `moved-${i}`
    }
    await down
    expect(await b.whenReady(15_000)).toBe(true)
    expect(await levelOf(b, stay)).toBe('L1')
    table.write(key, 'v1')
    expect(await b.get(key)).toMatchObject({ value: 'v1', level: 'DB' })
    const version = table.write(key, 'v2')
    const invalidated = heard(b, key)
    await a.invalidate(key, version)
    await invalidated
    expect(await b.get(key)).toMatchObject({ value: 'v2', version })
    // The shard that took no part kept its L1; the moved partitions started a new generation.
    expect(await levelOf(b, stay)).toBe('L1')
    expect(b.stats().dataLosses).toBeGreaterThan(0)
    await cluster.migrateSlots(to, from, 128)
    // Two migrations of 128 slots each, a few hundred commands: seconds on a starved machine, and
    // a test cut off midway leaves slots migrating, which fails every later test.
  }, 90_000)

  it('survives a master failover: its keys bypass L1 meanwhile, the others keep serving', async () => {
    // On a cluster of its own, stopped afterwards: the old master's return as a replica (tested
    // in test-servers) is no part of this, and a cluster still settling after it (it did not
    // within 30 s in CI) must not fail the tests that come after.
    const shared = cluster
    const own = await startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1_000 })
    cluster = own
    onTestFinished(async () => {
      cluster = shared
      await own.stop()
    })
    const table = new VersionedTable()
    // A quarantine far longer than the test, so that it is still on when checked.
    const a = await clusterCache(table, 'a', { maxWriteTime: 60_000 })
    const b = await clusterCache(table, 'b', { maxWriteTime: 60_000 })
    const keys = await keysByMaster(Partitioning.cluster(prefix, 256))
    for (const { key } of keys.values()) {
      table.write(key, 'v1')
      await a.get(key)
      await b.get(key)
      expect(await levelOf(b, key)).toBe('L1')
    }
    const [victim, ...others] = [...keys.keys()] as number[]
    const lost = nextEvent(b, 'bus', (event) => event.state === 'down')
    const node = cluster.nodes.find((candidate) => candidate.port === victim)
    await node?.kill()
    await lost
    const key = keys.get(victim as number)?.key as string
    expect(await levelOf(b, key)).not.toBe('L1')
    for (const port of others) expect(await levelOf(b, keys.get(port)?.key as string)).toBe('L1')
    // The replica takes over; every partition comes back, and writes of the shard go through.
    expect(await b.whenReady(30_000)).toBe(true)
    expect(await a.whenReady(30_000)).toBe(true)
    const version = table.write(key, 'v2')
    const invalidated = heard(b, key)
    await a.invalidate(key, version)
    await invalidated
    expect(await b.get(key)).toMatchObject({ value: 'v2', version })
    // The new master may lack fences the old one had not replicated: the shard's partitions
    // moved to a new generation (their L2 records are dead) and load nothing into the caches
    // for maxWriteTime. The other shards' keys are cached as ever.
    expect(b.stats().dataLosses).toBeGreaterThan(0)
    expect(await levelOf(b, key)).not.toBe('L1')
    const other = keys.get(others[0] as number)?.key as string
    const otherInvalidated = heard(b, other)
    await a.invalidate(other, table.write(other, 'v2'))
    await otherInvalidated
    expect(await levelOf(b, other)).toBe('DB')
    expect(await levelOf(b, other)).toBe('L1')
  }, 90_000)

  // Last: it takes the whole cluster down.
  it('comes back when every node is killed and restarted, the same nodes serving the same slots', async () => {
    const table = new VersionedTable()
    const b = await clusterCache(table, 'b')
    const down = nextEvent(b, 'bus', (event) => event.state === 'down')
    await Promise.all(cluster.nodes.map((node) => node.kill()))
    await down
    // Links opened meanwhile find their nodes gone and end without ever having been up; the slot
    // map the nodes come back with is the one they had, so no change of it brings new links.
    expect(await b.whenReady(1_500)).toBe(false)
    await Promise.all(cluster.nodes.map((node) => node.restart()))
    await cluster.waitUntilHealthy(30_000)
    expect(await b.whenReady(15_000)).toBe(true)
    expect(b.health()).toMatchObject({ l1: 'serving', bus: 'up' })
  }, 90_000)
})
