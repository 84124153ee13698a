import type { RunningStack } from '@strata/stack/running-stack'
import { Redis } from 'ioredis'
import { median } from './median.js'
import { parseCommandStats, redisRoundTrips } from './probes.js'

/** One Redis node's running totals at a moment. */
export interface NodeCounters {
  /** `INFO stats` total_commands_processed: every command it ran, those inside scripts too. */
  commands: number
  /** `INFO commandstats`: calls per command. */
  byCommand: Record<string, number>
}

/**
 * The nodes that serve a stack's keys, by address (`127.0.0.1:6383`): its one Redis server, or
 * every master of its Redis Cluster. Replicas of a cluster are left out: they only replay what
 * their master ran.
 */
export type RedisSnapshot = Map<string, NodeCounters>

/** What one node served over a window. */
export interface NodeLoad {
  node: string
  /** Commands it ran per second (total_commands_processed), script-internal ones included. */
  commands_per_s: number
  /** Round trips from clients per second (see `redisRoundTrips`). */
  round_trips_per_s: number
  /** Its share of every node's commands, %. */
  share: number
}

/** A connection that gives up at once: a node that does not answer fails the snapshot. */
const ONE_SHOT = { maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5_000 }

/** Runs `fn` on a fresh connection to the Redis of `url`. */
async function onNode<T>(url: URL, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url.href, ONE_SHOT)
  try {
    return await fn(redis)
  } finally {
    redis.disconnect()
  }
}

/** A RESP map as ioredis returns it, `[key, value, key, value, …]`, as an object. */
const fields = (pairs: unknown): Record<string, unknown> => {
  const list = Array.isArray(pairs) ? pairs : []
  const out: Record<string, unknown> = {}
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1]
  return out
}

/**
 * The master of every shard that serves slots, from `CLUSTER SHARDS`, as `ip:port`. A master
 * that is not `online` (failed, or still loading) is left out.
 */
export function shardMasters(shards: unknown): string[] {
  const masters: string[] = []
  for (const shard of Array.isArray(shards) ? shards : []) {
    const { slots, nodes } = fields(shard)
    if (!Array.isArray(slots) || slots.length === 0 || !Array.isArray(nodes)) continue
    for (const node of nodes.map(fields)) {
      if (node.role === 'master' && node.health === 'online')
        masters.push(`${node.ip}:${node.port}`)
    }
  }
  return masters.sort()
}

/**
 * The admin URLs of a stack's Redis nodes, for {@link redisSnapshot}: its one server or its
 * cluster's nodes, or an external Redis recorded with its password; empty when none may run INFO.
 */
export const redisSeeds = (stack: RunningStack): string[] =>
  stack.redisNodeUrls.length > 0 ? stack.redisNodeUrls : stack.redisUrl ? [stack.redisUrl] : []

/** `INFO stats` and `INFO commandstats` of one node. */
async function nodeCounters(redis: Redis): Promise<NodeCounters> {
  const info = String(await redis.call('INFO', 'stats', 'commandstats'))
  const processed = info.match(/^total_commands_processed:(\d+)/m)?.[1]
  if (processed === undefined) throw new Error('INFO stats has no total_commands_processed')
  return { commands: Number(processed), byCommand: parseCommandStats(info) }
}

/**
 * The counters of every node that serves the stack's keys, asked as an admin user (one that may
 * run INFO and CLUSTER SHARDS; in a cluster, the same user and password on every node). `seeds`
 * are the stack's nodes: the first that answers tells whether it is a cluster, and which nodes
 * are its masters now.
 */
export async function redisSnapshot(seeds: readonly string[]): Promise<RedisSnapshot> {
  let lastError: unknown = new Error('no Redis node to ask')
  for (const seed of seeds) {
    const url = new URL(seed)
    let addresses: string[]
    try {
      addresses = await onNode(url, async (redis) => {
        const cluster = String(await redis.info('cluster'))
        if (!/^cluster_enabled:1/m.test(cluster)) return [url.host]
        return shardMasters(await redis.call('CLUSTER', 'SHARDS'))
      })
    } catch (error) {
      lastError = error
      continue
    }
    if (addresses.length === 0) throw new Error(`no master of ${url.host}'s cluster is online`)
    return new Map(await Promise.all(addresses.map((address) => countersAt(url, address))))
  }
  throw lastError
}

/** The counters of the node at `address`, asked with the credentials of `seed`. */
async function countersAt(seed: URL, address: string): Promise<[string, NodeCounters]> {
  const url = new URL(seed.href)
  url.host = address
  return [address, await onNode(url, nodeCounters)]
}

/** Nodes in both snapshots (a failover in between changes the masters: the new one is left out). */
const common = (before: RedisSnapshot, after: RedisSnapshot) =>
  [...after.keys()].filter((node) => before.has(node)).sort()

/** What each node served between two snapshots `seconds` apart, by address. */
export function nodeLoads(
  before: RedisSnapshot,
  after: RedisSnapshot,
  seconds: number,
): NodeLoad[] {
  const rows = common(before, after).map((node) => {
    const start = before.get(node) as NodeCounters
    const end = after.get(node) as NodeCounters
    return {
      node,
      commands: end.commands - start.commands,
      roundTrips: redisRoundTrips(start.byCommand, end.byCommand).total,
    }
  })
  const all = rows.reduce((sum, row) => sum + row.commands, 0)
  const perSecond = (n: number) => (seconds > 0 ? Math.round((n / seconds) * 10) / 10 : 0)
  return rows.map((row) => ({
    node: row.node,
    commands_per_s: perSecond(row.commands),
    round_trips_per_s: perSecond(row.roundTrips),
    share: all === 0 ? 0 : Math.round((row.commands / all) * 1000) / 10,
  }))
}

/** Calls per command over every node of a snapshot. */
function summed(snapshot: RedisSnapshot, nodes: readonly string[]): Record<string, number> {
  const total: Record<string, number> = {}
  for (const node of nodes) {
    for (const [name, calls] of Object.entries(snapshot.get(node)?.byCommand ?? {}))
      total[name] = (total[name] ?? 0) + calls
  }
  return total
}

/** Round trips to every node between two snapshots, by command (see `redisRoundTrips`). */
export function snapshotRoundTrips(
  before: RedisSnapshot,
  after: RedisSnapshot,
): { total: number; byCommand: Record<string, number> } {
  const nodes = common(before, after)
  return redisRoundTrips(summed(before, nodes), summed(after, nodes))
}

/** The busiest node's commands over the mean of all nodes': 1 when perfectly balanced. */
export function imbalance(loads: readonly NodeLoad[]): number | null {
  if (loads.length === 0) return null
  const rates = loads.map((load) => load.commands_per_s)
  const mean = rates.reduce((sum, n) => sum + n, 0) / rates.length
  return mean === 0 ? null : Math.round((Math.max(...rates) / mean) * 1000) / 1000
}

/** Each node's median figures over several runs; nodes missing from a run (a failover) are left out. */
export function medianLoads(runs: readonly (readonly NodeLoad[])[]): NodeLoad[] {
  const nodes = (runs[0] ?? [])
    .map((load) => load.node)
    .filter((node) => runs.every((loads) => loads.some((load) => load.node === node)))
  const of = (node: string, figure: (load: NodeLoad) => number) =>
    median(runs.map((loads) => figure(loads.find((load) => load.node === node) as NodeLoad)))
  return nodes.map((node) => ({
    node,
    commands_per_s: of(node, (load) => load.commands_per_s),
    round_trips_per_s: of(node, (load) => load.round_trips_per_s),
    share: of(node, (load) => load.share),
  }))
}
