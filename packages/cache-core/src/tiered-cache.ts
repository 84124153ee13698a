import { randomBytes } from 'node:crypto'
import { type Cluster, Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { invalidationProblem } from './bus/messages.js'
import { openBus } from './bus/open-bus.js'
import type { InvalidationBus } from './bus/redis-bus.js'
import { Coherence } from './coherence.js'
import { ClearError, ClosedError, InvalidationError, REDIS_NOT_ANSWERING } from './errors.js'
import { CacheEventEmitter } from './events.js'
import { Flights } from './flights.js'
import { startNewGenerations } from './generations.js'
import type { FillParts } from './install.js'
import type { Loaded, Lookup } from './lookup.js'
import { type ResolvedOptions, resolveOptions, type TieredCacheOptions } from './options.js'
import { Partitioning } from './partitions.js'
import { RedisBreaker } from './redis-breaker.js'
import { commandConnectionOptions, quitRedis } from './redis-connection.js'
import { type CacheHealth, type CacheStats, Counters, snapshot } from './stats.js'
import type { L2Store } from './stores/l2-store.js'
import { MemoryStore } from './stores/memory-store.js'
import { RedisStore } from './stores/redis-store.js'
import { Unfences } from './unfences.js'
import { Writes } from './writes.js'

/**
 * A read-through cache with an in-process L1, a Redis L2 and a pub/sub invalidation bus.
 * `docs/protocol.md` states the protocol and why each guarantee holds; in short:
 * 1. Every entry carries its record's version; a write leaves a fence (in L2 and in every
 *    replica's memory) that refuses any older version, so a slow load never installs stale data,
 *    and an L2 record older than a fence this instance knows is a miss.
 * 2. L1 serves only while the bus is subscribed and its lease (a heartbeat's self-echo) is held,
 *    checked on every read; it starts empty after every resubscribe, because pub/sub drops the
 *    messages sent while a subscriber was away.
 * 3. Concurrent misses for a key share one flight, detached on invalidation; a joiner handed a
 *    row older than a write it knew of when it arrived loads again, from a flight that started
 *    after it arrived. Across instances, a fill lease lets one load fill L2 for all of them.
 * 4. A load installs nothing once detached, past `maxLoadTime`, or while Redis's lost fences
 *    may matter (`maxWriteTime` after a data loss is noticed).
 */
export class TieredCache<T> {
  /** Typed events; see {@link CacheEvents}. */
  readonly events = new CacheEventEmitter()

  readonly #options: ResolvedOptions<T>
  readonly #origin: string
  readonly #counters = new Counters()
  readonly #l1: MemoryStore<Lookup<T>>
  readonly #l1Enabled: boolean
  /** The shared store: fences, the generation and, in modes with L2, the entries. */
  readonly #store: L2Store | undefined
  /** Whether reads go through L2 (modes `multi` and `l2`). */
  readonly #l2Reads: boolean
  readonly #bus: InvalidationBus | undefined
  readonly #redis: Redis | Cluster | undefined
  readonly #subscriber: Redis | undefined
  /** Where each key lives in Redis: one partition on a server, many on a cluster. */
  readonly #partitioning: Partitioning
  readonly #breaker: RedisBreaker | undefined
  readonly #ownsRedis: boolean
  readonly #coherence: Coherence
  /** Loads in progress, one a key, shared by concurrent misses. */
  readonly #flights: Flights<T>
  /** Key → highest version this instance has seen invalidated, for loads that start afterwards. */
  readonly #fences: LRUCache<string, number>
  /** The Redis half of writes: fences, invalidations, the writer's fill. */
  readonly #writes: Writes<T> | undefined
  #closed = false

  constructor(options: TieredCacheOptions<T>) {
    const o = resolveOptions(options)
    this.#options = o
    this.#origin = `${o.instanceId}~${randomBytes(6).toString('hex')}`
    this.#l1Enabled = o.mode === 'multi' || o.mode === 'l1'
    this.#l2Reads = o.mode === 'multi' || o.mode === 'l2'
    this.#l1 = new MemoryStore<Lookup<T>>(o.l1)
    this.#fences = new LRUCache<string, number>({ max: o.maxLocalFences, ttl: o.fenceTtl })
    this.#partitioning =
      o.partitions > 0
        ? Partitioning.cluster(o.prefix, o.partitions)
        : Partitioning.single(o.prefix)
    const host = {
      dropLocal: () => this.#dropLocal(),
      detachPartitions: (partitions: ReadonlySet<number>) =>
        this.#flights.detachPartitions(partitions),
      sweepL1: (partitions: ReadonlySet<number>) =>
        this.#l1.deleteWhere((key) => partitions.has(this.#partitioning.of(key))),
      evict: (key: string, version: number) => this.#evict(key, version),
      redisFailed: (operation: string, error: unknown) => this.#redisFailed(operation, error),
      redisAnswered: () => this.#breaker?.succeeded(),
      degraded: (operation: string, error: unknown) => this.#degraded(operation, error),
    }

    if (o.mode === 'none' || o.redis === undefined) {
      this.#ownsRedis = false
      this.#writes = undefined
      this.#l2Reads = false
      this.#coherence = new Coherence(host, this.#parts(undefined))
      this.#coherence.servingUntil = 0
      this.#flights = new Flights(this.#fillParts())
      return
    }
    this.#ownsRedis = typeof o.redis === 'string'
    this.#redis =
      typeof o.redis === 'string'
        ? new Redis(o.redis, commandConnectionOptions({ commandTimeout: o.redisCommandTimeout }))
        : o.redis
    if (this.#ownsRedis) this.#redis.on('error', (error) => this.#degraded('redis', error))
    const breaker = new RedisBreaker(this.#redis, o.redisProbeInterval, (open) => {
      this.events.emit('redis', { state: open ? 'down' : 'up' })
      if (!open) unfences.retry()
    })
    this.#breaker = breaker
    this.#redis.on('ready', () => {
      breaker.reconnected()
      unfences.retry()
    })
    // Every write fences L2 and publishes, whatever this instance's own read mode: the other
    // replicas may read L2 or hold an L1.
    const stored = { redis: this.#redis, partitioning: this.#partitioning, scripts: o.l2.scripts }
    this.#store = o.wrapL2(new RedisStore({ ...stored, onScripts: breaker.scriptsAnswered }))
    const unfences = new Unfences(this.#store, o.maxLocalFences, o.fenceTtl, (error) =>
      this.#degraded('l2.unfence', error),
    )
    this.#coherence = new Coherence(host, this.#parts(this.#store))
    const link = {
      origin: this.#origin,
      heartbeatInterval: o.heartbeatInterval,
      // Without L1 nothing could be stale, so nothing needs a lease.
      lease: this.#l1Enabled ? o.busLease : 0,
    }
    const handlers = this.#coherence.busHandlers()
    const opened = openBus(this.#redis, this.#partitioning, link, handlers, (error) =>
      this.#degraded('bus', error),
    )
    this.#bus = opened.bus
    this.#subscriber = opened.subscriber
    this.#coherence.attachBus()
    const parts = this.#fillParts()
    this.#flights = new Flights(parts)
    const redis = this.#redis
    const write = {
      store: this.#store,
      origin: this.#origin,
      unfences,
      reachable: () => redis.status === 'ready',
    }
    this.#writes = new Writes(parts, write, randomBytes(6).toString('hex'))
    this.#bus.start()
  }

  /** This instance's label, as given in `instanceId`. */
  get instanceId(): string {
    return this.#options.instanceId
  }

  /** This process's unique id on the bus: the instance id plus a random suffix. */
  get origin(): string {
    return this.#origin
  }

  /**
   * Reads a key through L1 → L2 → loader. Never rejects because Redis is down; rejects only
   * when the loader does.
   * @example const hit = await cache.get('user:1'); if (hit.found) use(hit.value, hit.level)
   */
  get(key: string): Promise<Lookup<T>> {
    this.#counters.reads++
    // The lease is checked here, on the read itself: a timer could fire late after a stall.
    // (No clock read at all without an L1.)
    if (this.#l1Enabled && this.#coherence.servesKey(key, performance.now())) {
      const hit = this.#l1.get(key)
      if (hit !== undefined) {
        this.#counters.l1Hits++
        return Promise.resolve(hit)
      }
    }
    if (this.#l1Enabled) this.#counters.l1Misses++
    if (this.#closed) return Promise.reject(new ClosedError())
    return this.#flights.read(key)
  }

  /**
   * The synchronous half of `get()`: the L1 entry when L1 is serving and holds the key, counted
   * as a read and an L1 hit; otherwise undefined and nothing is counted (call `get()` then).
   * For callers whose hot path must not await, such as an HTTP fast path for L1 hits.
   * `now` is `performance.now()`, for a caller that has just read it (one clock read per request).
   * @example const hit = cache.peek(key) ?? (await cache.get(key))
   */
  peek(key: string, now: number = performance.now()): Lookup<T> | undefined {
    if (!this.#coherence.servesKey(key, now)) return undefined
    const hit = this.#l1.get(key)
    if (hit !== undefined) {
      this.#counters.reads++
      this.#counters.l1Hits++
    }
    return hit
  }

  /**
   * Announces that `key` changed to `version` (a write or a delete, committed or about to be).
   * Evicts it here at once, fences L2 against older versions and tells every replica: whenever
   * Redis is configured, whatever this instance's mode.
   * Rejects with `InvalidationError` when Redis does not take it, or when the bus cannot carry
   * it (a key longer than `MAX_KEY_LENGTH` code points, a version that is not a safe
   * non-negative integer); the caller must then not acknowledge the write (roll it back), because
   * other replicas may keep serving the old value. The fences it raised are taken back then.
   * With `{ fill: true }` (before a commit, in modes that read L2) the fence also takes the key's
   * fill lease for the writer: the caller then calls `committed` or `uncommitted` afterwards.
   */
  async invalidate(key: string, version: number, options?: { fill?: boolean }): Promise<void> {
    if (this.#closed) throw new ClosedError()
    // Peers drop what they cannot parse: an invalidation they would drop must not be sent, or
    // they would keep serving the old value. Refused before anything changes.
    const problem = invalidationProblem(key, version)
    if (problem)
      throw new InvalidationError(key, version, undefined, `it cannot be sent: ${problem}`)
    const previous = this.#fences.get(key)
    this.#evict(key, version)
    if (this.#writes === undefined || this.#bus === undefined) {
      this.#invalidated(key, version)
      return
    }
    try {
      await this.#writes.fence(key, version, previous, options?.fill === true)
    } catch (error) {
      throw new InvalidationError(key, version, error)
    }
    this.#invalidated(key, version)
  }

  /**
   * Drops `key` from this instance only — L1 and any load in flight — with no Redis round trip.
   * A write whose `invalidate()` ran before its commit calls it (or `committed`, which does it
   * too) right after the commit: a load that started in between read the old row, and a read
   * that starts after the commit must not join it.
   * @example await sql.begin(async (tx) => { …; await cache.invalidate(key, v) }); cache.evictLocal(key, v)
   */
  evictLocal(key: string, version: number): void {
    this.#evict(key, version)
  }

  /**
   * A write announced with `invalidate()` has committed `record` (what the loader would now
   * return: the value at its version, or `absent(version)` for a delete). Evicts the key here
   * (as `evictLocal`) and, in modes that read L2, installs the record in L2 itself, so that no
   * replica loads it; the write's fence took the key's fill lease, so readers wait for this fill
   * rather than load the row it replaced. The fence still decides: a newer write's refuses it.
   * Never rejects (a failed fill is a `degraded` event); the fill need not be awaited.
   * @example const { version } = await sql.begin(…invalidate…); void cache.committed(key, { value, version })
   */
  committed(key: string, record: NonNullable<Loaded<T>>): Promise<void> {
    this.#evict(key, record.version)
    return this.#writes?.fill(key, record) ?? Promise.resolve()
  }

  /**
   * A write announced at `version` did not commit (rolled back, or its outcome is unknown):
   * drops the fill lease its fence took, so readers load at once rather than wait for a fill.
   * @example try { await sql.begin(…invalidate(key, v)…) } catch (e) { cache.uncommitted(key, v); throw e }
   */
  uncommitted(key: string, version: number): void {
    this.#writes?.uncommitted(key, version)
  }

  /**
   * Empties L1 on every replica and L2 for everyone, by moving to a new L2 generation
   * (no key scan). Rejects with `ClearError` when Redis is down; this instance's L1 is
   * emptied either way.
   */
  async clear(): Promise<void> {
    if (this.#closed) throw new ClosedError()
    const known = this.#coherence.generations.all
    const { generations, failure } = this.#breaker?.open
      ? { generations: known, failure: REDIS_NOT_ANSWERING }
      : await startNewGenerations(this.#store, this.#bus, known, this.#origin)
    // The partitions it did move are this instance's new generations either way.
    this.#coherence.cleared(generations)
    if (failure !== undefined) {
      if (failure !== REDIS_NOT_ANSWERING) this.#breaker?.failed(failure)
      throw new ClearError(failure)
    }
    const generation = this.#coherence.generations.highest
    this.events.emit('clear', { generation, origin: this.#origin, local: true })
  }

  /** Resolves true once the bus is subscribed and the L2 generation is known; false on timeout. */
  whenReady(timeoutMs = 5_000): Promise<boolean> {
    return this.#coherence.whenReady(timeoutMs)
  }

  /** A snapshot of the counters with hit rates in percent. */
  stats(): CacheStats {
    return snapshot(this.#counters, {
      l1Size: this.#l1Enabled ? this.#l1.size : 0,
      l1MaxSize: this.#l1Enabled ? this.#l1.maxEntries : 0,
      l1Bytes: this.#l1.bytes,
      busState: this.#bus ? this.#bus.state : 'off',
      generation: this.#coherence.generations.highest,
    })
  }

  /** The state of each tier, for health checks. */
  health(): CacheHealth {
    return {
      mode: this.#options.mode,
      l1: !this.#l1Enabled
        ? 'off'
        : performance.now() < this.#coherence.servingUntil
          ? 'serving'
          : 'bypassed',
      l2: this.#l2Reads ? (this.#breaker?.l2State() ?? 'down') : 'off',
      bus: this.#bus ? this.#bus.state : 'off',
    }
  }

  /** Stops the bus and closes the connections this cache opened. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#coherence.close()
    this.#breaker?.stop()
    await this.#bus?.close()
    this.#dropLocal()
    await quitRedis(this.#subscriber)
    if (this.#ownsRedis) await quitRedis(this.#redis)
  }

  /** What loads share with the cache; built once every part exists. */
  #fillParts(): FillParts<T> {
    return {
      options: this.#options,
      counters: this.#counters,
      events: this.events,
      coherence: this.#coherence,
      partitioning: this.#partitioning,
      l1: this.#l1,
      l1Enabled: this.#l1Enabled,
      l1Sized:
        this.#options.l1.maxBytes !== undefined || Number.isFinite(this.#options.l1.maxEntryBytes),
      fences: this.#fences,
      store: this.#store,
      l2Reads: this.#l2Reads,
      breaker: this.#breaker,
      redisFailed: (operation, error) => this.#redisFailed(operation, error),
      degraded: (operation, error) => this.#degraded(operation, error),
    }
  }

  #parts(store: L2Store | undefined) {
    return {
      l1Enabled: this.#l1Enabled,
      store,
      partitioning: this.#partitioning,
      maxWriteTime: this.#options.maxWriteTime,
      counters: this.#counters,
      events: this.events,
    }
  }

  /** Drops a key here and remembers its version, so no older load lands afterwards. */
  #evict(key: string, version: number): void {
    this.#l1.delete(key)
    if (version > (this.#fences.get(key) ?? -1)) this.#fences.set(key, version)
    this.#flights.detach(key, version)
  }

  #invalidated(key: string, version: number): void {
    this.#counters.invalidationsSent++
    this.events.emit('invalidate', { key, version, origin: this.#origin, local: true })
  }

  /** Empties L1 and detaches every load in flight. */
  #dropLocal(): void {
    this.#l1.clear()
    this.#flights.detachAll()
  }

  #degraded(operation: string, error: unknown): void {
    this.#counters.redisErrors++
    this.events.emit('degraded', { operation, error })
  }

  /** A command on the command connection failed: degrade, and stop waiting on Redis if it hangs. */
  #redisFailed(operation: string, error: unknown): void {
    this.#degraded(operation, error)
    this.#breaker?.failed(error)
  }
}

/**
 * Creates a tiered cache. The loader runs on misses; call `invalidate(key, version)` on writes.
 * @example
 * const cache = createTieredCache({ redis: 'redis://127.0.0.1:6379', loader: loadUser })
 * await cache.whenReady()
 */
export const createTieredCache = <T>(options: TieredCacheOptions<T>): TieredCache<T> =>
  new TieredCache<T>(options)
