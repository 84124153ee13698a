import type { LRUCache } from 'lru-cache'
import type { Coherence } from './coherence.js'
import type { CacheEventEmitter } from './events.js'
import type { Lookup } from './lookup.js'
import type { ResolvedOptions } from './options.js'
import type { Partitioning } from './partitions.js'
import type { RedisBreaker } from './redis-breaker.js'
import type { Counters } from './stats.js'
import type { L2Store } from './stores/l2-store.js'
import type { MemoryStore } from './stores/memory-store.js'

/** One in-progress fill of a key (L2 read, then loader). Concurrent misses share it. */
export interface Flight<T> {
  promise: Promise<Lookup<T>>
  /** The newest version known to be written since the flight began: anything older is not installed. */
  fence: number
  /** The key's partition (see `Partitioning`). */
  partition: number
  /** The coherence epoch at start. A clear or a bus loss since then bars the result from L1 and L2. */
  epoch: number
  /** Its partition's L2 generation at start; what the flight writes to L2 is tagged with it. */
  generation: number
  /** When it started, on the monotonic clock: past `maxLoadTime` it installs nothing. */
  startedAt: number
  /** An invalidation or a local clear took it out of the map: it installs nothing. */
  detached: boolean
  /** The token of the fill lease it holds (see `awaitFill`) while it loads. */
  lease: string | undefined
}

/** What a fill reads and writes: the cache's own parts, shared with it (not copies). */
export interface FillParts<T> {
  readonly options: ResolvedOptions<T>
  readonly counters: Counters
  readonly events: CacheEventEmitter
  readonly coherence: Coherence
  readonly partitioning: Partitioning
  readonly l1: MemoryStore<Lookup<T>>
  readonly l1Enabled: boolean
  /** Whether L1 weighs its values (a byte bound or a size cap): loads then serialize. */
  readonly l1Sized: boolean
  /** Key → highest version this instance has seen invalidated, for loads that start afterwards. */
  readonly fences: LRUCache<string, number>
  /** The shared store, when Redis is configured. */
  readonly store: L2Store | undefined
  /** Whether reads go through L2 (modes `multi` and `l2`). */
  readonly l2Reads: boolean
  readonly breaker: RedisBreaker | undefined
  /** A command on the command connection failed: degrade, and stop waiting on Redis if it hangs. */
  redisFailed(operation: string, error: unknown): void
  degraded(operation: string, error: unknown): void
}

/**
 * Puts a lookup in L1 (misses apart from values) while L1 serves its partition, unless the
 * value weighs more than `l1.maxEntryBytes`. `serializedBytes` is the UTF-8 length of its
 * serialized form.
 */
export function installL1<T>(
  parts: FillParts<T>,
  flight: Flight<T>,
  key: string,
  lookup: Lookup<T>,
  ttl: number,
  serializedBytes: number,
): boolean {
  const now = performance.now()
  if (!(now < parts.coherence.servingUntil || parts.coherence.serving(flight.partition, now)))
    return false
  const entry = Object.freeze({ ...lookup, level: 'L1' as const })
  if (!lookup.found) {
    parts.l1.setMiss(key, entry, ttl)
    return true
  }
  const weight = parts.options.l1.weigh(serializedBytes)
  if (weight > parts.options.l1.maxEntryBytes) return false
  parts.l1.set(key, entry, ttl, weight)
  return true
}

/**
 * Whether what `flight` read (at `version`) may be installed now. Not when the flight was
 * detached (an invalidation or a local clear since it began), when it is older than
 * `maxLoadTime` (a fence may have expired meanwhile), when it began in a quarantine (Redis
 * lost fences), or when a newer version is known.
 */
export function mayInstall<T>(
  parts: FillParts<T>,
  key: string,
  version: number,
  flight: Flight<T>,
  tier: 'L1' | 'L2',
): boolean {
  if (
    flight.detached ||
    flight.epoch !== parts.coherence.epoch ||
    performance.now() - flight.startedAt > parts.options.maxLoadTime ||
    flight.startedAt < parts.coherence.quarantineUntil(flight.partition)
  ) {
    parts.counters.discardedLoads++
    return false
  }
  const fence = Math.max(flight.fence, parts.fences.get(key) ?? 0)
  if (version >= fence) return true
  rejectStale(parts, key, version, fence, tier)
  return false
}

export function rejectStale<T>(
  parts: FillParts<T>,
  key: string,
  version: number,
  fence: number,
  tier: 'L1' | 'L2',
): void {
  parts.counters.staleSetsRejected++
  parts.events.emit('stale-set-rejected', { key, version, fence, tier })
}
