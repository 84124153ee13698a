import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Cluster, type Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  CLUSTER_BUS_OFFSET,
  clusterNodes,
  expandSlots,
  freeClusterPorts,
  portIsFree,
  type RedisCluster,
  startRedisCluster,
  withNode,
} from '../src/index.js'

const password = randomBytes(16).toString('hex')
const admin = { user: 'default', password }
const appPassword = randomBytes(16).toString('hex')
// What a cluster client needs and nothing more: its keys, its commands, and the slot map.
const APP_RULES = 'resetkeys ~app:* resetchannels -@all +get +set +cluster|slots'

let cluster: RedisCluster
const clients: Array<Cluster | Redis> = []

/** An ioredis Cluster client of the test cluster as the narrow `app` user. */
function appClient(): Cluster {
  const seeds = cluster.seeds('app').map((url) => {
    const { hostname, port } = new URL(url)
    return { host: hostname, port: Number(port) }
  })
  const client = new Cluster(seeds, {
    // ioredis's ready checks send CLUSTER INFO (the cluster) and INFO (each node), which the
    // narrow user may not run: it would never be ready.
    enableReadyCheck: false,
    redisOptions: { username: 'app', password: appPassword, enableReadyCheck: false },
  })
  clients.push(client)
  return client
}

const keysIn = (count: number) => Array.from({ length: count }, (_, index) => `app:${index}`)

/** The slot of each key, asked of a running node in one round trip. */
async function slotsOf(keys: readonly string[]): Promise<number[]> {
  const node = cluster.nodes.find((candidate) => candidate.running)
  if (!node) throw new Error('no node runs')
  const replies = await withNode(node.port, admin, (connection) => {
    const pipeline = connection.pipeline()
    for (const key of keys) pipeline.call('CLUSTER', 'KEYSLOT', key)
    return pipeline.exec()
  })
  return (replies ?? []).map(([, slot]) => Number(slot))
}

beforeAll(async () => {
  cluster = await startRedisCluster({
    password,
    users: [{ name: 'app', password: appPassword, rules: APP_RULES }],
  })
})
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})
afterAll(() => cluster?.stop())

describe('startRedisCluster', () => {
  it('starts 3 masters and 3 replicas that serve every slot to a cluster client', async () => {
    expect(cluster.nodes).toHaveLength(6)
    const roles = await Promise.all(cluster.nodes.map((node) => node.role()))
    expect(roles.filter((role) => role === 'master')).toHaveLength(3)
    expect((await cluster.masters()).map((node) => node.port).sort()).toEqual(
      cluster.nodes
        .slice(0, 3)
        .map((node) => node.port)
        .sort(),
    )
    const client = appClient()
    for (const key of keysIn(100)) await client.set(key, `value of ${key}`)
    for (const key of keysIn(100)) expect(await client.get(key)).toBe(`value of ${key}`)
    // The keys landed on every master: the slots are shared.
    for (const master of await cluster.masters()) {
      const size = await withNode(master.port, admin, (node) => node.dbsize())
      expect(size).toBeGreaterThan(0)
    }
  })

  it('promotes the replica of a killed master, and takes the master back as a replica', async () => {
    const client = appClient()
    await client.set('app:failover', 'kept')
    const [slot = -1] = await slotsOf(['app:failover'])
    const owner = await ownerOf(slot)
    // The write reached the replica before the kill: WAIT on the master that took it.
    await withNode(owner.port, admin, (node) => node.call('WAIT', 1, 5000))

    await owner.kill()
    expect(owner.running).toBe(false)
    await cluster.waitUntilHealthy()
    const successor = await ownerOf(slot)
    expect(successor.port).not.toBe(owner.port)
    expect(await successor.role()).toBe('master')
    expect(await client.get('app:failover')).toBe('kept')

    await owner.restart()
    await cluster.waitUntilHealthy()
    expect(await owner.role()).toBe('replica')
    expect((await cluster.masters()).map((node) => node.port)).not.toContain(owner.port)
  })

  it('migrates slots with their keys, and clients are asked to the target meanwhile', async () => {
    const client = appClient()
    const keys = keysIn(300)
    for (const key of keys) await client.set(key, `moved ${key}`)
    const [from, to] = await cluster.masters()
    if (!from || !to) throw new Error('fewer than 2 masters')
    const admin = { user: 'default', password }
    let asked = ''
    const slots = await cluster.migrateSlots(from.port, to.port, 200, {
      whileMigrating: async (migrating) => {
        expect(migrating).toHaveLength(200)
        // A key absent from the source in a migrating slot is the target's: ASK redirection.
        const missing = await keyInSlot(migrating[0] ?? 0, 'app:absent')
        asked = await withNode(from.port, admin, (node) => node.get(missing)).then(
          () => 'answered',
          (error: Error) => error.message,
        )
      },
    })
    expect(asked).toMatch(/^ASK /)

    // Every node's slot map gives the slots to the target (whose range they may extend).
    for (const node of cluster.nodes) {
      const entries = await withNode(node.port, admin, clusterNodes)
      const served = (port: number) =>
        expandSlots(entries.find((entry) => entry.port === port)?.slots ?? [])
      expect(slots.every((slot) => served(to.port).includes(slot))).toBe(true)
      expect(slots.some((slot) => served(from.port).includes(slot))).toBe(false)
    }
    const keySlots = await slotsOf(keys)
    const movedKeys = keys.filter((_, index) => slots.includes(keySlots[index] ?? -1))
    expect(movedKeys.length).toBeGreaterThan(0)
    for (const key of movedKeys) {
      const onTarget = await withNode(to.port, admin, (node) => node.exists(key))
      expect(onTarget).toBe(1)
    }
    for (const key of keys) expect(await client.get(key)).toBe(`moved ${key}`)
  })
})

describe('freeClusterPorts', () => {
  it('picks client and bus ports below the ephemeral range, where no listen(0) can take them', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number)
    const ports = await freeClusterPorts(6)
    expect(new Set(ports).size).toBe(6)
    for (const port of ports) expect(port + CLUSTER_BUS_OFFSET).toBeLessThan(low as number)
  })
})

describe('RedisCluster.stop', () => {
  it('leaves no node running and frees every port', async () => {
    const other = await startRedisCluster({ masters: 3, replicasPerMaster: 0 })
    const ports = other.nodes.map((node) => node.port)
    await other.stop()
    expect(other.nodes.every((node) => !node.running)).toBe(true)
    for (const port of ports) {
      expect(await portIsFree(port)).toBe(true)
      expect(await portIsFree(port + CLUSTER_BUS_OFFSET)).toBe(true)
    }
  })
})

/** The running node that serves `slot` now. */
async function ownerOf(slot: number) {
  for (const master of await cluster.masters()) {
    const entries = await withNode(master.port, admin, clusterNodes)
    const self = entries.find((entry) => entry.flags.includes('myself'))
    const served = self?.slots.some((range) => {
      const [first = -1, last = first] = range.split('-').map(Number)
      return slot >= first && slot <= last
    })
    if (served) return master
  }
  throw new Error(`no master serves slot ${slot}`)
}

/** A key named after `base` that hashes to `slot`. */
async function keyInSlot(slot: number, base: string): Promise<string> {
  const candidates = Array.from({ length: 50_000 }, (_, suffix) => `${base}:${suffix}`)
  const slots = await slotsOf(candidates)
  const key = candidates[slots.indexOf(slot)]
  if (key === undefined) throw new Error(`no key for slot ${slot}`)
  return key
}
