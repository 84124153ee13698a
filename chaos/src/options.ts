import type { RedisTopology } from '@strata/stack/config'
import {
  duration,
  flag,
  int,
  parseOptions,
  positive,
  text,
  texts,
  UsageError,
} from '@strata/stack/options'
import { CLUSTER_ONLY, FAULT_NAMES, type FaultName, faultsOn, NOT_ON_CLUSTER } from './fault.js'

export { UsageError }

/** What `pnpm chaos` was asked to do. */
export interface ChaosOptions {
  help: boolean
  /** The Redis of every stack: one server, or a Redis Cluster. */
  redis: RedisTopology
  /** Faults to run, in the catalogue's order; all that apply to `redis` by default. */
  faults: FaultName[]
  /** Phases before and after each fault, ms. */
  phaseMs: number
  /** How long a fault that is undone is held, ms. */
  holdMs: number
  rate: number
  latencyMs: number
  stalenessBoundMs: number
  seed: number
  /** Set for `--soak D`: the soak's duration, ms. */
  soakMs: number | undefined
}

export const HELP = `pnpm chaos [options]
  Injects faults into a throw-away 3-replica stack (PostgreSQL, Redis, nginx on free ports)
  under a steady read/write load through nginx, records every request, and checks the history
  against Strata's guarantees. Each fault runs on a fresh stack: a phase of load, the fault, a
  phase after it. Prints a table; writes JSON + markdown to chaos/results/<time>/ and latest/.

  Faults (all by default, in this order):
    redis-kill        SIGKILL Redis mid-load, restart it after --hold (empty)
    redis-freeze      SIGSTOP Redis for --hold, then SIGCONT: calls must fail fast
    subscriber-kill   CLIENT KILL TYPE pubsub on replica-2's subscriber; over when it resubscribed
    replica-kill      SIGKILL replica-2, restart it after --hold
    postgres-restart  stop PostgreSQL for --hold, start it: cached reads go on, writes get 503
    redis-latency     +--latency each way on every replica's Redis link, for --hold
    redis-partition   replica-2's Redis link stalled for --hold (nothing passes, nothing closes)
    postgres-latency  +300 ms on every reply on replica-2's PostgreSQL link for --hold (and
                      +25 ms on replicas 1 and 3's queries), while replica-2 reads a hot key that
                      replicas 1 and 3 write (sent to each directly): issue 11, item 2
    postgres-freeze   SIGSTOP PostgreSQL (every process) for 2 s, then SIGCONT: cached reads go on,
                      writes are acked, refused with 503 or (frozen mid-COMMIT) of unknown outcome
    commit-reply-lost replica-2's PostgreSQL link forwards COMMIT and is cut before the reply,
                      3 times: those writes are of unknown outcome (504), never refused
                      (the checker finds a refused write that committed)
    replica-pause     SIGSTOP replica-2 for 1.5 s while replicas 1 and 3 write its hot key; once
                      thawed it must not serve what its lapsed lease no longer covers
    compound          (a) every subscriber dropped (CLIENT KILL TYPE pubsub) and Redis killed,
                      restarted 1.5 s later; then (b) replica-2 frozen 1.5 s while Redis is killed
                      and restarted; over when every replica serves again

  With --redis cluster (3 masters + 3 replicas; the replicas on REDIS_CLUSTER_NODES), three more:
    master-failover   SIGKILL the master of the lowest slots; its replica is promoted; every
                      replica's L1 serves again; after --hold the node restarts (empty) and
                      rejoins as a replica
    slot-migration    512 slots (8 partitions) moved from one master to another, held half-moved
                      1 s (MIGRATING / IMPORTING: ASK redirections), then moved back after --hold
    shard-subscriber-kill
                      CLIENT KILL ID of replica-2's sharded subscriber (ssub > 0) on one master;
                      over when it resubscribed; the other replicas' L1 keeps serving
  and, of the faults above, redis-kill, redis-freeze and compound act on every node at once
  (the whole cluster lost or hung); these do not run on a cluster:
    subscriber-kill   a replica has one sharded subscriber per master: shard-subscriber-kill
    redis-latency,    their TCP proxy stands in for one Redis server; a cluster client reaches
    redis-partition   every node at the address the cluster announces, not through a proxy

Options:
  --redis TOPOLOGY single (default) or cluster: the Redis of every stack, soak included
  --fault NAME     run only this fault; repeat for several
  --duration D     length of the phase before and of the phase after each fault (default 10s)
  --hold D         how long a fault is held before it is undone (default 5s)
  --rate N         requests per second, 20% writes (default 200; soak: 400)
  --latency D      delay added each way by redis-latency (default 25ms)
  --bound D        staleness bound the checker holds every replica to (default 100ms)
  --seed N         seed of the request sequence (default 1)
  --soak D         instead of the faults: a steady mixed load for D (e.g. 10m) checking that
                   RSS per replica stays flat (< 10% growth after a 20% warm-up), no event-loop
                   delay exceeds 100 ms, and no request fails
  -h, --help       show this help

Durations: 500ms, 10s, 2m, 1m30s (a bare number is seconds).
Exit status: 0 every guarantee held, 1 one was broken (the table says which), 2 bad usage,
130 interrupted.`

const OPTIONS = {
  redis: text('single'),
  fault: texts(),
  duration: duration('10s'),
  hold: duration('5s'),
  rate: positive(),
  latency: duration('25ms'),
  bound: duration('100ms'),
  seed: int(1),
  soak: duration(),
  help: flag('h'),
} as const

/** Parses the command line; throws `UsageError` naming the option at fault. */
export function parseChaosArgs(argv: readonly string[]): ChaosOptions {
  const { values } = parseOptions(argv, OPTIONS)
  const redis = values.redis
  if (redis !== 'single' && redis !== 'cluster')
    throw new UsageError(`--redis: expected single or cluster, not ${JSON.stringify(redis)}`)
  for (const name of values.fault) {
    if (!(FAULT_NAMES as readonly string[]).includes(name))
      throw new UsageError(
        `--fault: unknown fault ${JSON.stringify(name)}; one of ${FAULT_NAMES.join(', ')}`,
      )
    const why = redis === 'cluster' ? NOT_ON_CLUSTER[name as FaultName] : undefined
    if (why) throw new UsageError(`--fault ${name} does not run on a Redis Cluster: ${why}`)
    if (redis === 'single' && CLUSTER_ONLY.includes(name as FaultName))
      throw new UsageError(`--fault ${name} needs a Redis Cluster: add --redis cluster`)
  }
  return {
    help: values.help,
    redis,
    faults: faultsOn(redis).filter(
      (name) => values.fault.length === 0 || values.fault.includes(name),
    ),
    phaseMs: values.duration,
    holdMs: values.hold,
    rate: values.rate ?? (values.soak === undefined ? 200 : 400),
    latencyMs: values.latency,
    stalenessBoundMs: values.bound,
    seed: values.seed,
    soakMs: values.soak,
  }
}
