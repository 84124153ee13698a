import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { MAX_ORIGIN_LENGTH } from './bus/messages.js'
import { InvalidOptionError } from './errors.js'
import type { Loader } from './lookup.js'
import {
  nonEmptyString,
  nonNegativeInteger,
  optionalPositiveInteger,
  positiveInteger,
} from './option-checks.js'
import { CLUSTER_SLOTS } from './partitions.js'
import type { L2Store } from './stores/l2-store.js'
import { SCRIPTS_MODES, type ScriptsMode } from './stores/redis-scripts.js'

/**
 * Which tiers serve reads.
 * - `multi`: L1 + L2 + invalidation bus (the default).
 * - `l2`: Redis only, the single-tier baseline.
 * - `l1`: L1 + bus, no shared L2.
 * - `none`: every read runs the loader.
 */
export type CacheMode = 'multi' | 'l2' | 'l1' | 'none'

/** The modes, for validation and help texts. */
export const CACHE_MODES: readonly CacheMode[] = ['multi', 'l2', 'l1', 'none']

/** How values become L2 strings and back. */
export interface Serializer<T> {
  serialize(value: T): string
  deserialize(raw: string): T
}

/** Options of the in-process L1. */
export interface L1Options {
  /**
   * Most values L1 holds; the least recently used one is evicted past it. Cached misses are
   * kept apart, bounded by {@link maxMisses}.
   * @default 1000
   */
  maxEntries?: number
  /**
   * Most cached misses L1 holds, in an LRU of their own: a burst of reads of unknown keys
   * evicts other misses, never a value.
   * @default {@link maxEntries}
   */
  maxMisses?: number
  /**
   * Optional bound on what L1's values weigh in all, in bytes (see {@link weigh}). Costs one
   * size computation per insert, none per hit.
   * @default undefined (bounded by entries only)
   */
  maxBytes?: number | undefined
  /**
   * The heaviest value L1 admits, in bytes as weighed; a heavier one is still served (from L2
   * or the loader) but not kept in L1.
   * @default {@link maxBytes} (no cap without it)
   */
  maxEntryBytes?: number | undefined
  /**
   * What a value weighs against {@link maxBytes} and {@link maxEntryBytes}, from the UTF-8
   * length of its serialized form. An application that keeps more per entry (a rendered HTTP
   * answer beside it, say) counts that here, so the bound holds for real.
   * @default the serialized length
   * @example weigh: (bytes) => 2 * bytes + 256
   */
  weigh?: ((serializedBytes: number) => number) | undefined
  /**
   * How long an entry may live in L1, in milliseconds. A promoted L2 entry lives no longer
   * than L2 still keeps it.
   * @default 60_000
   */
  ttl?: number
}

/** Options of the shared Redis L2. */
export interface L2Options {
  /**
   * How long an entry lives in L2, in milliseconds.
   * @default 300_000
   */
  ttl?: number
  /**
   * The largest serialized value, in bytes, written to L2; a larger one is served from the
   * loader every time and cached nowhere (in modes with L2, L1 takes only what L2 accepted).
   * It keeps one key from filling Redis's memory.
   * @default undefined (no cap)
   */
  maxEntryBytes?: number | undefined
  /**
   * Fill leases (memcache's leases): after a miss in L2 (a write left only its fence there), the
   * first reader in the cluster loads and the others wait for its fill, looking again with
   * growing pauses for at most this many milliseconds in all, then load themselves. So a hot key
   * costs about one load per write rather than one per replica. 0 turns it off.
   * @default 50
   */
  fillLeaseWait?: number
  /**
   * How the cache's Lua scripts reach Redis. `'preloaded'` sends `EVALSHA` only, so the Redis
   * user needs `+evalsha` but neither `+eval` nor `+script` (which would let it run any Lua):
   * an admin loads the scripts with `loadScripts()` after every Redis start, and until then L2
   * is skipped and invalidations are refused with a `ScriptNotLoadedError` as the cause. See
   * {@link ScriptsMode}.
   * @default 'eval'
   */
  scripts?: ScriptsMode | undefined
}

/** Options of `createTieredCache()`. */
export interface TieredCacheOptions<T> {
  /** Reads the source of truth. It runs at most once at a time per key on this instance. */
  loader: Loader<T>
  /**
   * Which tiers serve reads. See {@link CacheMode}.
   * @default 'multi'
   */
  mode?: CacheMode
  /**
   * Redis for L2 and the bus: a URL, or an ioredis client this cache borrows (it is not closed
   * by `close()`; its `duplicate()` becomes the subscriber). Required unless `mode` is `none`.
   * An ioredis `Cluster` (see `connectRedisCluster`) runs the cache on a Redis Cluster: keys
   * spread over {@link partitions} hash slots, invalidations on sharded pub/sub.
   */
  redis?: string | Redis | Cluster | undefined
  /**
   * On a Redis Cluster: how many partitions keys are spread over, each pinned to one hash slot
   * with its bus channel and its generation (docs/scaling-out.md). More spread the data finer
   * over the masters; each costs every instance a subscription and a generation read when its
   * shard's subscription comes up, and a clear one SPUBLISH. Every instance sharing a prefix must
   * use the same number. Ignored on a single server.
   * @default 256
   */
  partitions?: number
  /**
   * Prefix of every Redis key and of the bus channel. Instances that share a prefix share L2
   * and hear each other's invalidations.
   * @default 'strata'
   */
  prefix?: string
  /**
   * This instance's name, a label for logs and events (a replica id, a host name). Several
   * instances may share one: on the bus each process is told apart by this label plus a random
   * suffix ({@link TieredCache.origin}), so two replicas with the same id still hear each other.
   * At most 240 characters, so that the origin fits in every message.
   * @default a random UUID
   */
  instanceId?: string
  /** L1 options. */
  l1?: L1Options
  /** L2 options. */
  l2?: L2Options
  /**
   * How long a miss is cached, in milliseconds, in L1 and L2. A write ends it early.
   * @default 5_000
   */
  negativeTtl?: number
  /**
   * How long the fence left by an invalidation refuses older versions, in milliseconds.
   * It must outlast the slowest write plus the slowest load that can still install anything,
   * so it must exceed {@link maxWriteTime} + {@link maxLoadTime} (checked).
   * @default 300_000
   */
  fenceTtl?: number
  /**
   * The age, in milliseconds on a monotonic clock, past which a load installs nothing in L1 or
   * L2 (its caller still gets what it read). It bounds how long a paused or slow load can keep
   * an old row in hand, so that fences can expire: see {@link fenceTtl}.
   * @default 10_000
   */
  maxLoadTime?: number
  /**
   * The longest a write may take from `invalidate()` to its commit, in milliseconds. The caller
   * must not acknowledge a write that took longer (answer "outcome unknown"): when Redis loses
   * its data (and the fences in it), each instance installs nothing from loads that started less
   * than this after it noticed, since a write fenced before the loss may still be committing.
   * @default 5_000
   */
  maxWriteTime?: number
  /**
   * How many recently invalidated keys this instance remembers, with their version, to refuse
   * loads older than the invalidation. Bounded so memory stays bounded.
   * @default 10_000
   */
  maxLocalFences?: number
  /**
   * Time limit of each Redis command issued by a cache-owned connection, in milliseconds.
   * A slower Redis counts as down for that read, which then falls through to the loader.
   * @default 1_000
   */
  redisCommandTimeout?: number
  /**
   * After a Redis command fails without an answer (a timeout, a lost connection), the cache
   * skips L2 and refuses invalidations at once instead of letting every call wait for its own
   * timeout; meanwhile it sends one PING at a time, this many milliseconds apart, and goes back
   * to Redis on the first answer.
   * @default 100
   */
  redisProbeInterval?: number
  /**
   * How long a heartbeat, once it has come back, lets L1 serve, in milliseconds from when it was
   * sent. Each instance publishes its own heartbeat on the bus channel and waits for it on its
   * subscriber; messages on a channel arrive in order, so its return proves every invalidation
   * published before it has been applied. This bounds how stale L1 can get when the link goes
   * silent without closing (a partition, a frozen Redis, a stuck proxy): L1 pauses until a
   * heartbeat returns. The lease is checked on every L1 read (one monotonic clock read), so an
   * event-loop stall cannot stretch it. Heartbeats go out every quarter of it; a round trip
   * (plus event-loop delay) above three quarters pauses L1 briefly, to L2. 0 turns it off: a
   * silent link is then noticed only by {@link heartbeatInterval}.
   * @default 60
   */
  busLease?: number
  /**
   * How long a heartbeat that Redis took may stay away from the subscriber, in milliseconds,
   * before the subscription is declared dead: the bus goes down (L1 empties) and reconnects.
   * 0 turns it off.
   * @default 1_000
   */
  heartbeatInterval?: number
  /**
   * Turns values into L2 strings and back.
   * @default JSON
   */
  serializer?: Serializer<T>
  /**
   * Decorates the L2 store, for tracing or for fault injection in tests.
   * @default identity
   */
  wrapL2?: ((store: L2Store) => L2Store) | undefined
  /**
   * Tracing hook, called once per invalidation this instance publishes: the W3C `traceparent`
   * of the caller's current span (`00-<trace id>-<span id>-<flags>`), or undefined. The bus
   * message carries it, and every receiver's `invalidate` event reports it, so a tracer can link
   * each replica's eviction to the write. The cache has no tracing dependency of its own.
   * @default undefined (nothing is called; messages carry no trace context)
   */
  traceparent?: (() => string | undefined) | undefined
}

/** Options with every default filled in and every value checked. */
export interface ResolvedOptions<T> {
  loader: Loader<T>
  mode: CacheMode
  redis: string | Redis | Cluster | undefined
  /** 0 on a single server. */
  partitions: number
  prefix: string
  instanceId: string
  l1: {
    maxEntries: number
    maxMisses: number
    maxBytes: number | undefined
    maxEntryBytes: number
    ttl: number
    weigh: (serializedBytes: number) => number
  }
  l2: { ttl: number; maxEntryBytes: number; scripts: ScriptsMode; fillLeaseWait: number }
  negativeTtl: number
  fenceTtl: number
  maxLoadTime: number
  maxWriteTime: number
  maxLocalFences: number
  redisCommandTimeout: number
  redisProbeInterval: number
  busLease: number
  heartbeatInterval: number
  serializer: Serializer<T>
  wrapL2: (store: L2Store) => L2Store
  traceparent: (() => string | undefined) | undefined
}

const json: Serializer<never> = {
  serialize: (value) => JSON.stringify(value),
  deserialize: (raw) => JSON.parse(raw) as never,
}

/** Room the origin's random suffix takes after the instance id. */
export const ORIGIN_SUFFIX_LENGTH = 16

/** The instance id: non-empty and short enough for its origin to travel in every bus message. */
function instanceId(value: unknown): string {
  const resolved = nonEmptyString('instanceId', value, randomUUID())
  const most = MAX_ORIGIN_LENGTH - ORIGIN_SUFFIX_LENGTH
  if ([...resolved].length > most) {
    throw new InvalidOptionError('instanceId', value, `at most ${most} characters`)
  }
  return resolved
}

/** Fills defaults and checks every option once; throws `InvalidOptionError` naming the option. */
export function resolveOptions<T>(options: TieredCacheOptions<T>): ResolvedOptions<T> {
  if (typeof options?.loader !== 'function') {
    throw new InvalidOptionError('loader', options?.loader, 'a function (key) => Promise<Loaded>')
  }
  const mode = options.mode ?? 'multi'
  if (!CACHE_MODES.includes(mode)) {
    throw new InvalidOptionError('mode', options.mode, `one of ${CACHE_MODES.join(', ')}`)
  }
  const redis = options.redis
  if (mode !== 'none' && (redis === undefined || redis === '')) {
    throw new InvalidOptionError(
      'redis',
      redis,
      `a Redis URL or client (mode "${mode}" uses Redis)`,
    )
  }
  const maxEntries = positiveInteger('l1.maxEntries', options.l1?.maxEntries, 1000)
  const maxBytes = optionalPositiveInteger('l1.maxBytes', options.l1?.maxBytes)
  const weigh = options.l1?.weigh ?? ((bytes: number) => bytes)
  if (typeof weigh !== 'function') {
    throw new InvalidOptionError('l1.weigh', weigh, 'a function (serializedBytes) => bytes')
  }
  const scripts = options.l2?.scripts ?? 'eval'
  if (!SCRIPTS_MODES.includes(scripts)) {
    throw new InvalidOptionError('l2.scripts', scripts, `one of ${SCRIPTS_MODES.join(', ')}`)
  }
  const fenceTtl = positiveInteger('fenceTtl', options.fenceTtl, 300_000)
  const maxLoadTime = positiveInteger('maxLoadTime', options.maxLoadTime, 10_000)
  const maxWriteTime = positiveInteger('maxWriteTime', options.maxWriteTime, 5_000)
  if (fenceTtl <= maxLoadTime + maxWriteTime) {
    throw new InvalidOptionError(
      'fenceTtl',
      fenceTtl,
      `more than maxWriteTime + maxLoadTime (${maxWriteTime + maxLoadTime} ms): a fence must outlive every write and load that can still install what it read`,
    )
  }
  const busLease = nonNegativeInteger('busLease', options.busLease, 60)
  const heartbeatInterval = nonNegativeInteger(
    'heartbeatInterval',
    options.heartbeatInterval,
    1_000,
  )
  // A replica that has not yet noticed a Redis restart may hold its lease for up to these; the
  // fence it relies on for read-your-writes must outlive that by far (docs/protocol.md).
  if (busLease + heartbeatInterval >= fenceTtl) {
    throw new InvalidOptionError(
      'fenceTtl',
      fenceTtl,
      `more than busLease + heartbeatInterval (${busLease + heartbeatInterval} ms)`,
    )
  }
  const onCluster = typeof redis === 'object' && redis.isCluster
  const prefix = nonEmptyString('prefix', options.prefix, 'strata')
  // A brace in the prefix would become the hash tag and put every key in one slot.
  if (onCluster && /[{}]/.test(prefix)) {
    throw new InvalidOptionError('prefix', prefix, 'no { or } on a Redis Cluster')
  }
  const partitions = positiveInteger('partitions', options.partitions, 256)
  if (partitions > CLUSTER_SLOTS) {
    throw new InvalidOptionError('partitions', partitions, `at most ${CLUSTER_SLOTS}`)
  }
  return {
    loader: options.loader,
    mode,
    redis,
    partitions: onCluster ? partitions : 0,
    prefix,
    instanceId: instanceId(options.instanceId),
    l1: {
      maxEntries,
      maxMisses: positiveInteger('l1.maxMisses', options.l1?.maxMisses, maxEntries),
      maxBytes,
      maxEntryBytes:
        optionalPositiveInteger('l1.maxEntryBytes', options.l1?.maxEntryBytes) ??
        maxBytes ??
        Number.POSITIVE_INFINITY,
      ttl: positiveInteger('l1.ttl', options.l1?.ttl, 60_000),
      weigh,
    },
    l2: {
      ttl: positiveInteger('l2.ttl', options.l2?.ttl, 300_000),
      maxEntryBytes:
        optionalPositiveInteger('l2.maxEntryBytes', options.l2?.maxEntryBytes) ??
        Number.POSITIVE_INFINITY,
      scripts,
      fillLeaseWait: nonNegativeInteger('l2.fillLeaseWait', options.l2?.fillLeaseWait, 50),
    },
    negativeTtl: positiveInteger('negativeTtl', options.negativeTtl, 5_000),
    fenceTtl,
    maxLoadTime,
    maxWriteTime,
    maxLocalFences: positiveInteger('maxLocalFences', options.maxLocalFences, 10_000),
    redisCommandTimeout: positiveInteger('redisCommandTimeout', options.redisCommandTimeout, 1_000),
    redisProbeInterval: positiveInteger('redisProbeInterval', options.redisProbeInterval, 100),
    busLease,
    heartbeatInterval,
    serializer: options.serializer ?? (json as Serializer<T>),
    wrapL2: options.wrapL2 ?? ((store) => store),
    traceparent: options.traceparent,
  }
}
