import { COMMIT_STATEMENT } from '@strata/testkit'
import { CLUSTER_FAULTS } from './cluster-faults.js'
import type { Fault, FaultContext, FaultName } from './fault.js'
import {
  COMMIT_CUT_GAP_MS,
  COMMIT_CUTS,
  frozen,
  HELD_WRITES,
  type HeldFaultSpec,
  HOT_KEY_ON_TARGET,
  heldFault,
  hold,
  POSTGRES_FREEZE_MS,
  POSTGRES_LATENCY_MS,
  proxyOf,
  REPLICA_PAUSE_MS,
  TARGET_REPLICA,
  target,
  tiersOf,
  untilAllServing,
  WRITER_QUERY_DELAY_MS,
  waitUntil,
  within,
} from './fault-steps.js'
import { subscriberOf } from './redis-clients.js'
import type { ChaosStack } from './stack.js'

/** A cluster action and the note that says it is done. */
type ClusterStep = [act: (cluster: ChaosStack['cluster']) => Promise<unknown>, done: string]

/** The inject and undo of a fault that is one awaited cluster action each way. */
function clusterSteps(
  inject: ClusterStep,
  undo: ClusterStep,
): Pick<HeldFaultSpec, 'inject' | 'undo'> {
  const step =
    ([act, done]: ClusterStep) =>
    async ({ stack }: FaultContext) => {
      await act(stack.cluster)
      return done
    }
  return { inject: step(inject), undo: step(undo) }
}

/** What the whole-Redis faults act on, for their notes. */
const wholeRedis = (stack: ChaosStack) =>
  stack.topology === 'cluster' ? 'every Redis Cluster node' : 'Redis'

/** Every fault, by name. */
export const FAULTS: Record<FaultName, Fault> = {
  'redis-kill': heldFault({
    name: 'redis-kill',
    title: 'SIGKILL Redis, restart it',
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked', 'refused'] },
    inject: async ({ stack }) => {
      await stack.redisServers.kill()
      return `${wholeRedis(stack)} killed`
    },
    undo: async ({ stack }) => {
      await stack.redisServers.start()
      await stack.redisServers.untilHealthy()
      return `${wholeRedis(stack)} restarted (empty)`
    },
  }),
  'redis-freeze': heldFault({
    name: 'redis-freeze',
    title: 'SIGSTOP Redis, SIGCONT',
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked', 'refused'], medianReadMs: 250 },
    inject: ({ stack }) => {
      stack.redisServers.pause()
      return `${wholeRedis(stack)} frozen (SIGSTOP)`
    },
    undo: ({ stack }) => {
      stack.redisServers.resume()
      return `${wholeRedis(stack)} thawed (SIGCONT)`
    },
  }),
  'subscriber-kill': {
    name: 'subscriber-kill',
    title: `CLIENT KILL TYPE pubsub (${target})`,
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked'] },
    async run(context) {
      const { stack, redis } = context
      const pid = stack.replicaPid(TARGET_REPLICA)
      const before = (await subscriberOf(redis, pid))?.addr
      if (!before) throw new Error(`${target} has no subscriber connection`)
      const injectedAt = context.now()
      const killed = (await redis.call(
        'CLIENT',
        'KILL',
        'ADDR',
        before,
        'TYPE',
        'pubsub',
      )) as number
      if (killed !== 1) throw new Error(`CLIENT KILL removed ${killed} connections, expected 1`)
      const injectionDoneAt = context.now()
      context.note(`killed ${target}'s subscriber (${before})`)
      // Nothing undoes this fault: it is over once the replica has resubscribed on a new
      // connection and serves L1 again.
      const url = stack.replicaUrl(TARGET_REPLICA)
      await waitUntil(`${target} to resubscribe`, 30_000, async () => {
        const now = (await subscriberOf(redis, pid))?.addr
        if (now === undefined || now === before) return false
        const tiers = await tiersOf(url)
        return tiers?.bus === 'up' && tiers.l1 === 'serving'
      })
      context.note(`${target} resubscribed`)
      return { injectedAt, injectionDoneAt, endedAt: context.now() }
    },
  },
  'replica-kill': heldFault({
    name: 'replica-kill',
    title: `SIGKILL ${target}, restart it`,
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked', 'unknown'], unknownOnlyInFlight: 'injection' },
    ...clusterSteps(
      [(cluster) => cluster.killReplica(TARGET_REPLICA), `${target} killed`],
      [(cluster) => cluster.startReplica(TARGET_REPLICA), `${target} restarted`],
    ),
  }),
  'postgres-restart': heldFault({
    name: 'postgres-restart',
    title: 'Stop PostgreSQL, start it',
    proxies: [],
    // A write whose COMMIT was on its way when PostgreSQL shut down may or may not have committed:
    // the API answers it 504 OUTCOME_UNKNOWN, truthfully. Only at the stop, never later.
    expect: {
      failedReads: 'uncached',
      writes: ['acked', 'refused', 'unknown'],
      unknownOnlyInFlight: 'injection',
    },
    ...clusterSteps(
      [(cluster) => cluster.stopPostgres(), 'PostgreSQL stopped'],
      [(cluster) => cluster.startPostgres(), 'PostgreSQL started'],
    ),
  }),
  'redis-latency': heldFault({
    name: 'redis-latency',
    title: 'Delay on every Redis link',
    proxies: ['redis'],
    expect: { failedReads: 'none', writes: ['acked'] },
    inject: ({ stack, latencyMs }) => {
      for (const proxy of stack.proxies.redis) proxy.setDelay(latencyMs)
      return `+${latencyMs} ms each way on every replica's Redis link`
    },
    undo: ({ stack }) => {
      for (const proxy of stack.proxies.redis) proxy.setDelay(0)
      return 'delay removed'
    },
  }),
  'redis-partition': heldFault({
    name: 'redis-partition',
    title: `Stall ${target}'s Redis link`,
    proxies: ['redis'],
    expect: { failedReads: 'none', writes: ['acked', 'refused'] },
    inject: (context) => {
      proxyOf(context, 'redis', TARGET_REPLICA).stall()
      return `${target}'s Redis link stalled (nothing passes, nothing closes)`
    },
    undo: (context) => {
      proxyOf(context, 'redis', TARGET_REPLICA).resume()
      return 'link released'
    },
  }),
  'postgres-latency': heldFault({
    name: 'postgres-latency',
    title: `+${POSTGRES_LATENCY_MS} ms on ${target}'s PostgreSQL replies, hot key read there`,
    proxies: ['postgres'],
    hotKey: HOT_KEY_ON_TARGET,
    // Readers off the fill lease: with it, the target waits for the writer's fill after a write
    // and never loads the row the write replaces, so the race below would not be run at all. The
    // lease is off wherever `L2_FILL_LEASE_WAIT=0`, and then only the join rules protect reads.
    env: { L2_FILL_LEASE_WAIT: '0' },
    // The target's writes wait 300 ms for each reply; a database deadline may end one first.
    expect: { failedReads: 'none', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    // Only the replies are late on the target. A delay on its queries too would move every
    // load's snapshot after the COMMIT it raced, and hide what this fault is after (issue 11,
    // item 2): a load that starts on the target between a write's invalidation and its COMMIT
    // reads the old row, its reply comes back 300 ms later, and every read that arrives
    // meanwhile joins it, including reads that begin well after the writer's 200. On loopback
    // that gap between invalidation and COMMIT is under a millisecond, shorter than the target's
    // L2 round trip before it queries, so the writers' queries reach PostgreSQL 25 ms late: a
    // writer a little farther from the database than the reader, as across zones.
    inject: (context) => {
      proxyOf(context, 'postgres', TARGET_REPLICA).setDelay(POSTGRES_LATENCY_MS, 'to-client')
      for (const writer of HOT_KEY_ON_TARGET.writers)
        proxyOf(context, 'postgres', writer).setDelay(WRITER_QUERY_DELAY_MS, 'to-server')
      return (
        `+${POSTGRES_LATENCY_MS} ms on every reply from PostgreSQL to ${target}, ` +
        `+${WRITER_QUERY_DELAY_MS} ms on every query from ${HOT_KEY_ON_TARGET.writers.map((i) => `replica-${i}`).join(' and ')}`
      )
    },
    undo: (context) => {
      for (const proxy of context.stack.proxies.postgres) proxy.setDelay(0)
      return 'delays removed'
    },
  }),
  'postgres-freeze': heldFault({
    name: 'postgres-freeze',
    title: `SIGSTOP PostgreSQL ${POSTGRES_FREEZE_MS / 1000} s, SIGCONT`,
    proxies: [],
    holdMs: POSTGRES_FREEZE_MS,
    // No `medianReadMs` until the API's database deadline lands (issue 11, item 11): until
    // then uncached reads wait for the thaw, and every write is acked late.
    expect: { failedReads: 'uncached', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    ...frozen(
      'PostgreSQL (the postmaster and every backend)',
      (cluster) => cluster.pausePostgres(),
      (cluster) => cluster.resumePostgres(),
    ),
  }),
  'commit-reply-lost': {
    name: 'commit-reply-lost',
    title: `COMMIT's reply lost on ${target}'s PostgreSQL link, ${COMMIT_CUTS} times`,
    proxies: ['postgres'],
    // postgres.js prepares each statement once per connection and afterwards sends only its
    // random name, so COMMIT would be on the wire as text once per connection and then never
    // again: without prepared statements the replicas send the same SQL in the same
    // transactions, with the text each time, which the proxy's pattern can match.
    postgresUrlParams: { prepare: 'false' },
    // A write whose COMMIT reached PostgreSQL and whose reply did not come back may have
    // committed: it must be answered as unknown (504 OUTCOME_UNKNOWN), never as refused, and
    // only writes in flight while the fault is on may be. Others may be refused while the
    // target holds its database for unreachable (503 DATABASE_UNAVAILABLE, nothing changed),
    // and so may its reads of uncached keys. The checker tells the two apart: a refused write
    // that committed is a `refused-write-applied`, an acknowledged one that did not is a
    // `lost-write`.
    expect: {
      failedReads: 'uncached',
      writes: ['acked', 'refused', 'unknown'],
      unknownOnlyInFlight: 'fault',
    },
    async run(context) {
      const proxy = proxyOf(context, 'postgres', TARGET_REPLICA)
      const injectedAt = context.now()
      let injectionDoneAt: number | undefined
      for (let cut = 1; cut <= COMMIT_CUTS && !context.signal.aborted; cut++) {
        // Writes reach the target through nginx several times a second: 10 s is ample.
        await within(
          `a COMMIT on ${target}'s link`,
          10_000,
          proxy.cutAfterClientMatch(COMMIT_STATEMENT),
        )
        injectionDoneAt ??= context.now()
        context.note(`${target}'s connection cut after it sent COMMIT (${cut}/${COMMIT_CUTS})`)
        if (cut < COMMIT_CUTS) await hold(context, COMMIT_CUT_GAP_MS)
      }
      return {
        injectedAt,
        injectionDoneAt: injectionDoneAt ?? context.now(),
        endedAt: context.now(),
      }
    },
  },
  'replica-pause': heldFault({
    name: 'replica-pause',
    title: `SIGSTOP ${target} ${REPLICA_PAUSE_MS / 1000} s while the others write, SIGCONT`,
    proxies: [],
    holdMs: REPLICA_PAUSE_MS,
    // The hot key's reads queue up on the frozen target while the others write it; once thawed,
    // the target must not answer them from an L1 whose lease ran out while it was stopped.
    hotKey: HOT_KEY_ON_TARGET,
    expect: { failedReads: 'none', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    ...frozen(
      target,
      (cluster) => cluster.pauseReplica(TARGET_REPLICA),
      (cluster) => cluster.resumeReplica(TARGET_REPLICA),
    ),
  }),
  // One fault in two phases rather than two faults: the second phase starts from a cluster that
  // has just recovered from the first (asserted: every replica serving again), which is how
  // faults come in production, and one stack instead of two keeps the short run within its
  // budget (a stack costs ~8 s to start, seed and stop on the CI machine).
  compound: {
    name: 'compound',
    title: `pub/sub drop + Redis crash; ${target} frozen while Redis restarts`,
    proxies: [],
    hotKey: HOT_KEY_ON_TARGET,
    // Refused while Redis is down; unknown: see `HELD_WRITES`.
    expect: { failedReads: 'none', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    async run(context) {
      const { stack } = context
      const redis = stack.redisServers
      // (a) Every subscriber dropped, and Redis killed while the replicas resubscribe.
      const injectedAt = context.now()
      const dropped = await redis.dropSubscribers()
      await redis.kill()
      const injectionDoneAt = context.now()
      context.note(`dropped ${dropped} subscriber connections, then killed ${wholeRedis(stack)}`)
      await hold(context, REPLICA_PAUSE_MS)
      await redis.start()
      await redis.untilHealthy()
      context.note(`${wholeRedis(stack)} restarted (empty)`)
      await untilAllServing(context, 'every replica to resubscribe after Redis restarted')
      context.note('every replica serving again')
      // (b) The target frozen; Redis crashes and comes back (empty) before it is thawed.
      const pausedAt = context.now()
      stack.cluster.pauseReplica(TARGET_REPLICA)
      await redis.kill()
      await redis.start()
      context.note(`${target} frozen; ${wholeRedis(stack)} killed and restarted (empty) meanwhile`)
      await hold(context, pausedAt + REPLICA_PAUSE_MS - context.now())
      stack.cluster.resumeReplica(TARGET_REPLICA)
      context.note(`${target} thawed (SIGCONT) after ${Math.round(context.now() - pausedAt)} ms`)
      // A cluster's nodes finish rejoining after the thaw: held for that, the replica would be
      // frozen past the database deadline, a fault of its own (postgres-freeze, replica-pause).
      await redis.untilHealthy()
      await untilAllServing(context, `${target} to serve again after the thaw`)
      context.note('every replica serving again')
      return { injectedAt, injectionDoneAt, endedAt: context.now() }
    },
  },
  ...CLUSTER_FAULTS,
}
