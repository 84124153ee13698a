import type { Cluster } from '@strata/stack/cluster'
import { redisPorts } from '@strata/stack/config'
import {
  clusterNodes,
  clusterProblem,
  expandSlots,
  liveMasters,
  migrateSlots,
  type RedisAdminAuth,
  waitForHealthyCluster,
  withNode,
} from '@strata/test-servers'
import type { Redis } from 'ioredis'

// The stack's Redis as the faults see it: one server or the six nodes of a Redis Cluster.

/** One node of a chaos stack's Redis Cluster. */
export interface RedisNode {
  /** 1-based: the stack's `redis-<node>` (its log is `redis-<node>.log`). */
  node: number
  port: number
}

/** How long a cluster may take to heal (a failover, a rejoin, a migration's gossip), ms. */
const HEAL_MS = 30_000

/** The admin user and password of a Redis URL (`redis://default:…@host:port`). */
export function adminAuthOf(url: string): RedisAdminAuth {
  const parsed = new URL(url)
  return {
    user: decodeURIComponent(parsed.username) || 'default',
    password: decodeURIComponent(parsed.password),
  }
}

/**
 * The Redis of a chaos stack: the faults that take "Redis" whole (`redis-kill`, `redis-freeze`,
 * `compound`) act on every node of a cluster at once, and the cluster faults on one node.
 */
export class StackRedis {
  /** The cluster's nodes; empty on a single server. */
  readonly nodes: readonly RedisNode[]
  readonly #cluster: Cluster
  readonly #auth: RedisAdminAuth
  /** The ports of every redis-server, the single one or each node. */
  readonly #ports: readonly number[]

  constructor(cluster: Cluster) {
    this.#cluster = cluster
    this.#auth = adminAuthOf(cluster.backends.adminRedisUrl)
    const onCluster = cluster.config.redisTopology === 'cluster'
    this.#ports = redisPorts(cluster.config)
    this.nodes = onCluster ? this.#ports.map((port, index) => ({ node: index + 1, port })) : []
  }

  /** Node numbers for the stack's Redis methods: `[undefined]` names the single server. */
  get #each(): (number | undefined)[] {
    return this.nodes.length === 0 ? [undefined] : this.nodes.map(({ node }) => node)
  }

  /** SIGKILLs every redis-server at once: all of Redis's data is gone. */
  async kill(): Promise<void> {
    await Promise.all(this.#each.map((node) => this.#cluster.killRedis(node)))
  }

  /**
   * Starts every redis-server again (empty), each once it answers and holds the scripts; a
   * cluster's nodes rejoin from their nodes.conf, which takes them a moment more: see
   * `untilHealthy`.
   */
  async start(): Promise<void> {
    // Together: a node restarted alone is a minority that cannot serve until the others are back.
    await Promise.all(this.#each.map((node) => this.#cluster.startRedis(node)))
  }

  pause(): void {
    for (const node of this.#each) this.#cluster.pauseRedis(node)
  }

  resume(): void {
    for (const node of this.#each) this.#cluster.resumeRedis(node)
  }

  /** Drops every subscriber connection (`CLIENT KILL TYPE pubsub`) on every node; returns how many. */
  async dropSubscribers(): Promise<number> {
    const counts = await Promise.all(
      this.#ports.map((port) =>
        this.on(port, async (redis) =>
          Number(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub')),
        ),
      ),
    )
    return counts.reduce((sum, count) => sum + count, 0)
  }

  /** Runs `fn` on a fresh admin connection to the redis-server on `port`. */
  on<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
    return withNode(port, this.#auth, fn)
  }

  node(number: number): RedisNode {
    const found = this.nodes.find((node) => node.node === number)
    if (!found) throw new Error(`the stack has no Redis Cluster node ${number}`)
    return found
  }

  /** SIGKILLs one node of the cluster, as a crash would. */
  killNode(node: RedisNode): Promise<void> {
    return this.#cluster.killRedis(node.node)
  }

  /** Starts one node again, empty; it rejoins the cluster as itself (a failed-over master as a replica). */
  startNode(node: RedisNode): Promise<void> {
    return this.#cluster.startRedis(node.node)
  }

  /**
   * The masters serving slots now, as the first node that answers sees them (leaving out
   * `except`), in the order of the slots they serve: the master of slot 0 first.
   */
  async masters(except: readonly RedisNode[] = []): Promise<RedisNode[]> {
    for (const candidate of this.nodes) {
      if (except.includes(candidate)) continue
      const entries = await this.on(candidate.port, clusterNodes).catch(() => undefined)
      if (!entries) continue
      const firstSlot = new Map(
        liveMasters(entries)
          .filter((entry) => entry.slots.length > 0)
          .map((entry) => [entry.port, Math.min(...expandSlots(entry.slots))]),
      )
      return this.nodes
        .filter((node) => firstSlot.has(node.port))
        .sort((a, b) => (firstSlot.get(a.port) as number) - (firstSlot.get(b.port) as number))
    }
    throw new Error('no node of the Redis Cluster answers')
  }

  /** What keeps the cluster (leaving out nodes meant to be down) from being healthy, if anything. */
  problem(except: readonly RedisNode[] = []): Promise<string | undefined> {
    return clusterProblem(this.#running(except), this.#auth)
  }

  /**
   * Waits until every running node says the cluster is ok, serves every slot and agrees on the
   * slot map, and every replica is linked to its master; nothing to wait for on a single server.
   */
  async untilHealthy(except: readonly RedisNode[] = []): Promise<void> {
    if (this.nodes.length > 0)
      await waitForHealthyCluster(this.#running(except), this.#auth, HEAL_MS)
  }

  /**
   * Moves the last `count` slots of `from` to `to`, keys included; `whileMigrating` runs once
   * they are marked MIGRATING / IMPORTING and before any key moves. Resolves once healthy again.
   */
  async migrate(
    from: RedisNode,
    to: RedisNode,
    count: number,
    whileMigrating: (slots: number[]) => Promise<void>,
  ): Promise<number[]> {
    const slots = await migrateSlots(from.port, to.port, count, this.#auth, { whileMigrating })
    await this.untilHealthy()
    return slots
  }

  #running(except: readonly RedisNode[]): number[] {
    return this.nodes.filter((node) => !except.includes(node)).map((node) => node.port)
  }
}

/**
 * Partitions among `slots`: the core pins its 256 partitions one every 64 slots, partition `p`
 * in slot `⌊(p + ½) · 64⌋` (packages/cache-core/src/partitions.ts).
 */
export const partitionsIn = (slots: readonly number[]): number =>
  slots.filter((slot) => slot % 64 === 32).length
