import type { RedisTopology } from '@strata/stack/config'
import type { WriteOutcome } from '@strata/testkit'
import type { Redis } from 'ioredis'
import type { ChaosStack, Link } from './stack.js'

// What a fault is: its name, what it acts on, when it held, and what must hold meanwhile.

/** The faults `pnpm chaos` knows, in the order it runs them. */
export const FAULT_NAMES = [
  'redis-kill',
  'redis-freeze',
  'subscriber-kill',
  'replica-kill',
  'postgres-restart',
  'redis-latency',
  'redis-partition',
  'postgres-latency',
  'postgres-freeze',
  'commit-reply-lost',
  'replica-pause',
  'compound',
  'master-failover',
  'slot-migration',
  'shard-subscriber-kill',
] as const

export type FaultName = (typeof FAULT_NAMES)[number]

/** Faults that only a Redis Cluster has: a shard's master, its slots, its subscriber. */
export const CLUSTER_ONLY: readonly FaultName[] = [
  'master-failover',
  'slot-migration',
  'shard-subscriber-kill',
]

const PROXIED_REDIS =
  'its TCP proxy stands in for one Redis server; a cluster client reaches every node at the ' +
  "address the cluster announces (CLUSTER SLOTS), never through the replica's configured URL"

/**
 * Faults of a single Redis that do not apply to a Redis Cluster, and why. The others run on a
 * cluster as they are; those that act on "Redis" (`redis-kill`, `redis-freeze`, `compound`) act
 * on every node of it at once: the whole cluster lost or hung, which is what they stand for.
 */
export const NOT_ON_CLUSTER: Readonly<Partial<Record<FaultName, string>>> = {
  'subscriber-kill':
    'a replica has one sharded subscriber per master there; shard-subscriber-kill drops one',
  'redis-latency': PROXIED_REDIS,
  'redis-partition': PROXIED_REDIS,
}

/** The faults that run on `redis`, in catalogue order. */
export const faultsOn = (redis: RedisTopology): FaultName[] =>
  FAULT_NAMES.filter((name) =>
    redis === 'cluster' ? NOT_ON_CLUSTER[name] === undefined : !CLUSTER_ONLY.includes(name),
  )

/** How long after an injection (or a fault's end) a write may still end `unknown` (see `unknownOnlyInFlight`). */
export const UNKNOWN_GRACE_MS = 1_000

/** What a fault is given to act on. */
export interface FaultContext {
  stack: ChaosStack
  /** A client on Redis itself (never through a proxy), for admin commands. */
  redis: Redis
  /** How long a fault that is undone is held, in milliseconds. */
  holdMs: number
  /** The delay `redis-latency` adds to each direction of every replica's Redis link, in ms. */
  latencyMs: number
  /** The recorder's clock, so fault times and operations share one scale. */
  now(): number
  /** Reports a step of the fault (shown in the progress output and kept in the results). */
  note(message: string): void
  signal: AbortSignal
}

/** When a fault began and ended, on the recorder's clock. */
export interface FaultWindow {
  /** Just before the fault was injected. */
  injectedAt: number
  /** When the injection had taken effect (a killed process gone, a signal sent). */
  injectionDoneAt: number
  /** When the fault was over: undone (the process back and ready, SIGCONT sent, delay removed), or healed by the system itself. */
  endedAt: number
  /**
   * Figures only this fault can measure, by name; `…Ms` in milliseconds (`master-failover`: from
   * the kill until a replica was promoted, and until every API replica's L1 served again).
   */
  figures?: Record<string, number>
}

/** What the guarantees promise while a fault is on; anything else fails the run. */
export interface FaultExpectations {
  /**
   * Which reads may fail through nginx: `none`, or `uncached` — only reads of keys written during
   * the run, which may not be cached when PostgreSQL goes away (read-only keys always are).
   */
  failedReads: 'none' | 'uncached'
  /** The write outcomes allowed. */
  writes: readonly WriteOutcome[]
  /**
   * When `unknown` is allowed, if not at any time:
   * - `injection`: only for writes in flight at the moment of injection (a killed replica's), or
   *   begun within {@link UNKNOWN_GRACE_MS} of it: nginx may still send a POST on a keep-alive
   *   connection to the dead replica before it has seen that connection close, and a POST it has
   *   sent is never retried elsewhere.
   * - `fault`: only for writes in flight at some moment while the fault was on, or begun within
   *   {@link UNKNOWN_GRACE_MS} of its end: a fault that can lose a COMMIT's reply at any moment
   *   it is on (a frozen or cut database link) leaves those in doubt, and no other.
   */
  unknownOnlyInFlight?: 'injection' | 'fault'
  /**
   * The most the median read may take while the fault is on, in milliseconds: calls must fail
   * fast instead of each waiting for a timeout.
   */
  medianReadMs?: number
}

/**
 * A second load, on top of the mixed one, on one written key: read on one replica and written on
 * others, each sent to its replica directly (not through nginx), so that the reads land where
 * the fault is and race the writes that other replicas acknowledge.
 */
export interface HotKeyLoad {
  /** The replica that reads the key. */
  reader: number
  /** The replicas that write it, in turn. */
  writers: readonly number[]
  /** Requests per second, reads and writes together. */
  rate: number
  /** Share of them that are writes, 0–1. */
  writeShare: number
}

/** One fault: how to inject it and what must hold meanwhile. */
export interface Fault {
  name: FaultName
  /** One line for the results table. */
  title: string
  /** The replicas' links that need a TCP proxy (one per replica); empty for none. */
  proxies: readonly Link[]
  /** See `ChaosStackOptions.postgresUrlParams`; applied to the proxied PostgreSQL links. */
  postgresUrlParams?: Readonly<Record<string, string>>
  /** Settings of every replica that the fault needs (see `ChaosStackOptions.env`). */
  env?: Readonly<Record<string, string>>
  /** A hot key to race reads on one replica against writes on the others, if the fault needs it. */
  hotKey?: HotKeyLoad
  expect: FaultExpectations
  run(context: FaultContext): Promise<FaultWindow>
}
