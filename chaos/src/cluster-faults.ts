import { setTimeout as sleep } from 'node:timers/promises'
import type { Fault, FaultContext } from './fault.js'
import { hold, TARGET_REPLICA, target, tiersOf, untilAllServing, waitUntil } from './fault-steps.js'
import { subscriberOf } from './redis-clients.js'
import { partitionsIn, type RedisNode } from './redis-cluster.js'
import { REPLICAS } from './stack.js'

// The faults only a Redis Cluster has: a master lost and replaced, slots moving between masters
// under the load, and one shard's subscriber of one replica dropped.

/**
 * Slots `slot-migration` moves each way: 512 slots hold 8 of the core's 256 partitions (one
 * every 64 slots), with their keys, fences, generations and channels.
 */
export const MIGRATED_SLOTS = 512
/** How long `slot-migration` keeps the slots half-moved (MIGRATING / IMPORTING, ASK redirections), ms. */
export const HALF_MIGRATED_MS = 1_000

/** How long a failed-over cluster may take to promote a replica and to serve every slot, ms. */
const FAILOVER_MS = 30_000

const nameOf = (node: RedisNode) => `redis-${node.node}`
/** Milliseconds since `from` on the recorder's clock, rounded. */
const since = (context: FaultContext, from: number) => Math.round(context.now() - from)

type ClusterFaultName = 'master-failover' | 'slot-migration' | 'shard-subscriber-kill'

/** The cluster-only faults, by name (see `CLUSTER_ONLY`). */
export const CLUSTER_FAULTS: Record<ClusterFaultName, Fault> = {
  'master-failover': {
    name: 'master-failover',
    title: 'SIGKILL a master; its replica takes over; the node rejoins as a replica',
    proxies: [],
    // While the shard has no master its keys' writes are refused (their invalidation cannot be
    // sent, so nothing is committed) and its reads go to PostgreSQL; the other shards carry on.
    // (Before the cluster client failed fast, an invalidation to the dead master waited through
    // seconds of retries inside its write's transaction, and the next write of that key waited
    // for its row lock past the database deadline: 503 DATABASE_UNAVAILABLE reads followed.)
    expect: { failedReads: 'none', writes: ['acked', 'refused'] },
    async run(context) {
      const redis = context.stack.redisServers
      const masters = await redis.masters()
      const victim = masters[0] as RedisNode
      const injectedAt = context.now()
      await redis.killNode(victim)
      const injectionDoneAt = context.now()
      context.note(`${nameOf(victim)}, a master, killed (SIGKILL)`)
      let promoted: RedisNode | undefined
      await waitUntil(`a replica of ${nameOf(victim)} to take over`, FAILOVER_MS, async () => {
        promoted = (await redis.masters([victim])).find((node) => !masters.includes(node))
        return promoted !== undefined && (await redis.problem([victim])) === undefined
      })
      const promotedMs = since(context, injectedAt)
      context.note(`${nameOf(promoted as RedisNode)} promoted ${promotedMs} ms after the kill`)
      await untilAllServing(context, "every replica's L1 to serve again after the failover")
      const l1ServingMs = since(context, injectedAt)
      context.note(`every replica's L1 serving again ${l1ServingMs} ms after the kill`)
      await hold(context, injectedAt + context.holdMs - context.now())
      await redis.startNode(victim)
      await redis.untilHealthy()
      const [role] = (await redis.on(victim.port, (node) => node.call('ROLE'))) as [string]
      if (role === 'master') throw new Error(`${nameOf(victim)} came back as a master`)
      context.note(`${nameOf(victim)} restarted (empty): it rejoined as a replica`)
      return {
        injectedAt,
        injectionDoneAt,
        endedAt: context.now(),
        figures: { promotedMs, l1ServingMs },
      }
    },
  },
  'slot-migration': {
    name: 'slot-migration',
    title: `${MIGRATED_SLOTS} slots moved to another master under load, then back`,
    proxies: [],
    // Moving slots redirects commands (ASK, MOVED; TRYAGAIN for a script whose keys are split
    // between the two nodes for a moment): a write whose invalidation fails is refused.
    expect: { failedReads: 'none', writes: ['acked', 'refused'] },
    async run(context) {
      const redis = context.stack.redisServers
      // The slots are taken from the end of `from`'s range and given to the master of lower
      // slots: there they are the last ones, and moving as many back returns the same slots.
      const [to, from] = (await redis.masters()) as [RedisNode, RedisNode]
      const halfMoved = () => hold(context, HALF_MIGRATED_MS)
      const injectedAt = context.now()
      const moved = await redis.migrate(from, to, MIGRATED_SLOTS, halfMoved)
      const injectionDoneAt = context.now()
      const what = `${moved.length} slots (${moved[0]}–${moved.at(-1)}, ${partitionsIn(moved)} partitions)`
      const migrateMs = since(context, injectedAt)
      context.note(
        `${what} moved from ${nameOf(from)} to ${nameOf(to)} in ${migrateMs} ms, ${HALF_MIGRATED_MS} ms of it half-moved`,
      )
      await untilAllServing(context, "every replica's L1 to serve again after the migration")
      const l1ServingMs = since(context, injectionDoneAt)
      context.note(`every replica's L1 serving again ${l1ServingMs} ms after the migration`)
      await hold(context, injectedAt + context.holdMs - context.now())
      const back = context.now()
      const returned = await redis.migrate(to, from, MIGRATED_SLOTS, halfMoved)
      if (returned.join() !== moved.join())
        throw new Error(`moved back slots ${returned[0]}–${returned.at(-1)}, not the same ones`)
      const backMs = since(context, back)
      const backDone = context.now()
      context.note(`the same slots moved back to ${nameOf(from)} in ${backMs} ms`)
      await untilAllServing(context, "every replica's L1 to serve again after the move back")
      const backL1ServingMs = since(context, backDone)
      context.note(`every replica's L1 serving again ${backL1ServingMs} ms after the move back`)
      return {
        injectedAt,
        injectionDoneAt,
        endedAt: context.now(),
        figures: { migrateMs, l1ServingMs, backMs, backL1ServingMs },
      }
    },
  },
  'shard-subscriber-kill': {
    name: 'shard-subscriber-kill',
    title: `CLIENT KILL ID of ${target}'s sharded subscriber on one master`,
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked'] },
    async run(context) {
      const { stack } = context
      const redis = stack.redisServers
      const pid = stack.replicaPid(TARGET_REPLICA)
      const [master] = (await redis.masters()) as [RedisNode]
      const subscriber = () => redis.on(master.port, (node) => subscriberOf(node, pid, 'sharded'))
      const before = await subscriber()
      if (!before) throw new Error(`${target} has no sharded subscriber on ${nameOf(master)}`)
      // Only the target's partitions of that shard lose their link: the other replicas' L1
      // must keep serving throughout. Their health is polled meanwhile.
      const others = Array.from({ length: REPLICAS }, (_, i) => i + 1)
        .filter((index) => index !== TARGET_REPLICA)
        .map((index) => stack.replicaUrl(index))
      let watching = true
      let othersBypassed = 0
      const watch = (async () => {
        while (watching) {
          const tiers = await Promise.all(others.map(tiersOf))
          othersBypassed += tiers.filter((tier) => tier?.l1 === 'bypassed').length
          await sleep(20)
        }
      })()
      const injectedAt = context.now()
      const killed = Number(
        await redis.on(master.port, (node) => node.call('CLIENT', 'KILL', 'ID', before.id ?? '')),
      )
      if (killed !== 1) throw new Error(`CLIENT KILL ID removed ${killed} connections, expected 1`)
      const injectionDoneAt = context.now()
      context.note(
        `killed ${target}'s sharded subscriber on ${nameOf(master)} (id ${before.id}, ${before.ssub} channels)`,
      )
      // Nothing undoes this fault: it is over once the target has subscribed that shard's
      // channels on a new connection and serves L1 again.
      const url = stack.replicaUrl(TARGET_REPLICA)
      try {
        await waitUntil(`${target} to resubscribe on ${nameOf(master)}`, 30_000, async () => {
          const now = await subscriber()
          if (now === undefined || now.id === before.id) return false
          const tiers = await tiersOf(url)
          return tiers?.bus === 'up' && tiers.l1 === 'serving'
        })
      } finally {
        watching = false
        await watch
      }
      const resubscribedMs = since(context, injectedAt)
      context.note(
        `${target} resubscribed ${resubscribedMs} ms after the kill; the other replicas' L1 ` +
          `was not serving in ${othersBypassed} of their health polls meanwhile`,
      )
      return {
        injectedAt,
        injectionDoneAt,
        endedAt: context.now(),
        figures: { resubscribedMs, othersBypassed },
      }
    },
  },
}
