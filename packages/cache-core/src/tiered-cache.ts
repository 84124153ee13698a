import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { invalidationProblem } from './bus/messages.js'
import { RedisBus } from './bus/redis-bus.js'
import { Coherence } from './coherence.js'
import { ClearError, ClosedError, InvalidationError } from './errors.js'
import { CacheEventEmitter } from './events.js'
import type { CacheLevel, Lookup } from './lookup.js'
import { type ResolvedOptions, resolveOptions, type TieredCacheOptions } from './options.js'
import { RedisBreaker } from './redis-breaker.js'
import { commandConnectionOptions, SUBSCRIBER_OPTIONS } from './redis-connection.js'
import { type CacheStats, Counters, snapshot } from './stats.js'
import type { L2Record } from './stores/l2-record.js'
import type { L2Store } from './stores/l2-store.js'
import { MemoryStore } from './stores/memory-store.js'
import { RedisStore } from './stores/redis-store.js'
import { type LeftFence, Unfences } from './unfences.js'

/** One in-progress fill of a key (L2 read, then loader). Concurrent misses share it. */
interface Flight<T> {
  promise: Promise<Lookup<T>>
  /** The newest version known to be written since the flight began: anything older is not installed. */
  fence: number
  /** The coherence epoch at start. A clear or a bus loss since then bars the result from L1 and L2. */
  epoch: number
  /** The L2 namespace generation at start; what the flight writes to L2 is tagged with it. */
  generation: number
  /** When it started, on the monotonic clock: past `maxLoadTime` it installs nothing. */
  startedAt: number
  /** An invalidation or a local clear took it out of the map: it installs nothing. */
  detached: boolean
}

/** The health of each tier, as `/health` reports it. */
export interface CacheHealth {
  mode: string
  l1: 'serving' | 'bypassed' | 'off'
  l2: 'up' | 'down' | 'off'
  bus: 'up' | 'down' | 'off'
}

/**
 * How many leases a read that needs L2 waits for a lapsed lease to be renewed. Four: heartbeats go
 * out every quarter lease, so a late one is followed by three more within that time.
 */
const LEASE_WAIT = 4

/** Why an invalidation or a clear is refused without being sent. */
const REDIS_NOT_ANSWERING = new Error(
  'Redis is not answering (a recent command got no answer); refused until a PING gets through',
)

const found = <T>(value: T, version: number, level: CacheLevel): Lookup<T> =>
  Object.freeze({ found: true as const, value, version, level })

const missing = (version: number, level: CacheLevel): Lookup<never> =>
  Object.freeze({ found: false as const, value: undefined, version, level })

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
 *    after it arrived.
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
  /** Whether L1 weighs its values (a byte bound or a size cap): loads then serialize. */
  readonly #l1Sized: boolean
  /** The shared store: fences, the generation and, in modes with L2, the entries. */
  readonly #store: L2Store | undefined
  /** Whether reads go through L2 (modes `multi` and `l2`). */
  readonly #l2Reads: boolean
  readonly #bus: RedisBus | undefined
  readonly #redis: Redis | undefined
  readonly #subscriber: Redis | undefined
  readonly #breaker: RedisBreaker | undefined
  readonly #ownsRedis: boolean
  readonly #coherence: Coherence
  readonly #flights = new Map<string, Flight<T>>()
  /** Key → highest version this instance has seen invalidated, for loads that start afterwards. */
  readonly #fences: LRUCache<string, number>
  /** Fences refused writes left in Redis, taken back once Redis answers. */
  readonly #unfences: Unfences | undefined
  #closed = false

  constructor(options: TieredCacheOptions<T>) {
    const o = resolveOptions(options)
    this.#options = o
    this.#origin = `${o.instanceId}~${randomBytes(6).toString('hex')}`
    this.#l1Enabled = o.mode === 'multi' || o.mode === 'l1'
    this.#l2Reads = o.mode === 'multi' || o.mode === 'l2'
    this.#l1 = new MemoryStore<Lookup<T>>(o.l1)
    this.#l1Sized = o.l1.maxBytes !== undefined || Number.isFinite(o.l1.maxEntryBytes)
    this.#fences = new LRUCache<string, number>({ max: o.maxLocalFences, ttl: o.fenceTtl })
    const host = {
      dropLocal: () => this.#dropLocal(),
      evict: (key: string, version: number) => this.#evict(key, version),
      redisFailed: (operation: string, error: unknown) => this.#redisFailed(operation, error),
      redisAnswered: () => this.#breaker?.succeeded(),
      degraded: (operation: string, error: unknown) => this.#degraded(operation, error),
    }

    if (o.mode === 'none' || o.redis === undefined) {
      this.#ownsRedis = false
      this.#unfences = undefined
      this.#l2Reads = false
      this.#coherence = new Coherence(host, this.#parts(undefined))
      this.#coherence.servingUntil = 0
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
      if (!open) this.#unfences?.retry()
    })
    this.#breaker = breaker
    this.#redis.on('ready', () => {
      breaker.reconnected()
      this.#unfences?.retry()
    })
    // Every write fences L2 and publishes, whatever this instance's own read mode: the other
    // replicas may read L2 or hold an L1.
    this.#store = o.wrapL2(
      new RedisStore({ redis: this.#redis, prefix: o.prefix, scripts: o.l2.scripts }),
    )
    this.#unfences = new Unfences(this.#store, o.maxLocalFences, o.fenceTtl, (error) =>
      this.#degraded('l2.unfence', error),
    )
    this.#coherence = new Coherence(host, this.#parts(this.#store))
    this.#subscriber = this.#redis.duplicate(SUBSCRIBER_OPTIONS)
    this.#subscriber.on('error', (error) => this.#degraded('bus', error))
    this.#bus = new RedisBus(
      {
        subscriber: this.#subscriber,
        publisher: this.#redis,
        channel: `${o.prefix}:bus`,
        origin: this.#origin,
        heartbeatInterval: o.heartbeatInterval,
        // Without L1 nothing could be stale, so nothing needs a lease.
        lease: this.#l1Enabled ? o.busLease : 0,
      },
      this.#coherence.busHandlers(),
    )
    this.#coherence.attach(this.#bus)
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
    if (this.#l1Enabled && performance.now() < this.#coherence.servingUntil) {
      const hit = this.#l1.get(key)
      if (hit !== undefined) {
        this.#counters.l1Hits++
        return Promise.resolve(hit)
      }
    }
    if (this.#l1Enabled) this.#counters.l1Misses++
    if (this.#closed) return Promise.reject(new ClosedError())
    const flight = this.#flights.get(key)
    return flight !== undefined && this.#joinable(flight)
      ? this.#join(key, flight)
      : this.#startFlight(key)
  }

  /**
   * The synchronous half of `get()`: the L1 entry when L1 is serving and holds the key, counted
   * as a read and an L1 hit; otherwise undefined and nothing is counted (call `get()` then).
   * For callers whose hot path must not await, such as an HTTP fast path for L1 hits.
   * @example const hit = cache.peek(key) ?? (await cache.get(key))
   */
  peek(key: string): Lookup<T> | undefined {
    if (!(performance.now() < this.#coherence.servingUntil)) return undefined
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
   */
  async invalidate(key: string, version: number): Promise<void> {
    if (this.#closed) throw new ClosedError()
    // Peers drop what they cannot parse: an invalidation they would drop must not be sent, or
    // they would keep serving the old value. Refused before anything changes.
    const problem = invalidationProblem(key, version)
    if (problem)
      throw new InvalidationError(key, version, undefined, `it cannot be sent: ${problem}`)
    const previous = this.#fences.get(key)
    this.#evict(key, version)
    const store = this.#store
    if (store === undefined || this.#bus === undefined) {
      this.#invalidated(key, version)
      return
    }
    const generation = this.#coherence.generation
    // Names this write's fence, so that taking it back can never remove another write's.
    const nonce = randomBytes(6).toString('hex')
    try {
      // Redis stopped answering: refuse now rather than after a timeout.
      if (this.#breaker?.open) throw REDIS_NOT_ANSWERING
      // Both commands leave on the same connection before either reply: one round trip.
      await Promise.all([
        store.fence(key, version, generation, nonce, this.#options.fenceTtl),
        this.#bus.publish({ v: 1, type: 'invalidate', key, version, origin: this.#origin }),
      ])
    } catch (error) {
      if (error !== REDIS_NOT_ANSWERING) this.#breaker?.failed(error)
      this.#restoreFence(key, version, previous, { version, generation, nonce })
      throw new InvalidationError(key, version, error)
    }
    this.#invalidated(key, version)
  }

  /**
   * Drops `key` from this instance only — L1 and any load in flight — with no Redis round trip.
   * Call it right after committing a write whose `invalidate()` ran before the commit: a load
   * that started in between read the old row, and a read that starts after the commit must not
   * join it.
   * @example await sql.begin(async (tx) => { …; await cache.invalidate(key, v) }); cache.evictLocal(key, v)
   */
  evictLocal(key: string, version: number): void {
    this.#evict(key, version)
  }

  /**
   * Empties L1 on every replica and L2 for everyone, by moving to a new L2 generation
   * (no key scan). Rejects with `ClearError` when Redis is down; this instance's L1 is
   * emptied either way.
   */
  async clear(): Promise<void> {
    if (this.#closed) throw new ClosedError()
    let generation = this.#coherence.generation
    try {
      if (this.#breaker?.open) throw REDIS_NOT_ANSWERING
      if (this.#store) generation = await this.#store.bumpGeneration(generation)
      if (this.#bus)
        await this.#bus.publish({ v: 1, type: 'clear', generation, origin: this.#origin })
    } catch (error) {
      this.#coherence.dropLocal()
      if (error !== REDIS_NOT_ANSWERING) this.#breaker?.failed(error)
      throw new ClearError(error)
    }
    this.#coherence.cleared(generation)
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
      generation: this.#coherence.generation,
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
      l2: !this.#l2Reads
        ? 'off'
        : this.#redis?.status === 'ready' && !this.#breaker?.open
          ? 'up'
          : 'down',
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
    const quit = async (redis: Redis | undefined) => {
      if (!redis) return
      await redis.quit().catch(() => redis.disconnect())
    }
    await quit(this.#subscriber)
    if (this.#ownsRedis) await quit(this.#redis)
  }

  #parts(store: L2Store | undefined) {
    return {
      l1Enabled: this.#l1Enabled,
      store,
      maxWriteTime: this.#options.maxWriteTime,
      counters: this.#counters,
      events: this.events,
    }
  }

  /**
   * A read may join a load in flight only while the lease holds (a load that began before the
   * lease ran out may predate a write whose invalidation is still held up) and while the load is
   * younger than `maxLoadTime` (its fence may have expired). Otherwise it starts its own.
   */
  #joinable(flight: Flight<T>): boolean {
    const now = performance.now()
    return now - flight.startedAt <= this.#options.maxLoadTime && this.#coherence.leaseHeld(now)
  }

  #startFlight(key: string): Promise<Lookup<T>> {
    const replaced = this.#flights.get(key)
    // A load this one replaces (not joinable any more) installs nothing either.
    if (replaced) replaced.detached = true
    const flight: Flight<T> = {
      promise: undefined as unknown as Promise<Lookup<T>>,
      fence: this.#fences.get(key) ?? 0,
      epoch: this.#coherence.epoch,
      generation: this.#coherence.generation,
      startedAt: performance.now(),
      detached: false,
    }
    this.#flights.set(key, flight)
    flight.promise = this.#fill(key, flight).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key)
    })
    return flight.promise
  }

  /**
   * Joins a flight in progress. The flight started after every write this instance knows of
   * was announced (an invalidation detaches older ones), but its load may still have read the
   * row before such a write committed. A joiner that knew of that write must not be handed the
   * older row: it may have arrived after the write was acknowledged. It loads again instead,
   * from a flight that starts after it arrived, whose answer is therefore good for it.
   */
  #join(key: string, flight: Flight<T>): Promise<Lookup<T>> {
    const known = this.#fences.get(key)
    if (known === undefined) return flight.promise
    return flight.promise.then((lookup) => {
      if (lookup.version >= known) return lookup
      this.#counters.joinRetries++
      return this.#flights.get(key)?.promise ?? this.#startFlight(key)
    })
  }

  async #fill(key: string, flight: Flight<T>): Promise<Lookup<T>> {
    // Without the lease, an invalidation may be held up on its way here, and L2 may hold what it
    // would have refused (a record written after a lost fence). A lease that ran out because a
    // heartbeat came back late (a busy machine, a GC pause) is renewed by the next one: wait up to
    // LEASE_WAIT leases for it, else read the source. On a link that is really silent, that is
    // what each L2 read costs until the heartbeat gives the subscription up.
    if (this.#l2Reads && this.#coherence.online && !this.#breaker?.open) {
      const leased =
        this.#coherence.leaseHeld(performance.now()) ||
        (await this.#coherence.leaseRenewed(LEASE_WAIT * this.#options.busLease))
      if (leased && this.#coherence.online && !this.#breaker?.open) {
        const hit = await this.#readL2(key, flight)
        if (hit) return hit
      }
    }
    return this.#load(key, flight)
  }

  async #readL2(key: string, flight: Flight<T>): Promise<Lookup<T> | undefined> {
    let record: L2Record | undefined
    try {
      record = await this.#store?.get(key)
    } catch (error) {
      this.#redisFailed('l2.get', error)
    }
    if (record === undefined) {
      this.#counters.l2Misses++
      return undefined
    }
    // A record older than a write this instance knows of is stale, whatever L2 says: it can have
    // been set after its fence expired or was lost (a Redis restart), by a load that was slow.
    const known = Math.max(flight.fence, this.#fences.get(key) ?? 0)
    // Whatever L2 holds, no load may install a version older than it.
    flight.fence = Math.max(flight.fence, record.version)
    if (
      record.kind === 'fence' ||
      record.version < known ||
      record.generation < flight.generation ||
      record.expiresAt <= Date.now()
    ) {
      if (record.kind !== 'fence' && record.version < known) {
        this.#rejectStale(key, record.version, known, 'L2')
      }
      this.#counters.l2Misses++
      return undefined
    }
    let lookup: Lookup<T>
    try {
      lookup =
        record.kind === 'value'
          ? found(this.#options.serializer.deserialize(record.payload), record.version, 'L2')
          : missing(record.version, 'L2')
    } catch (error) {
      this.#degraded('l2.decode', error)
      this.#counters.l2Misses++
      return undefined
    }
    this.#counters.l2Hits++
    if (this.#l1Enabled && this.#mayInstall(key, record.version, flight, 'L1')) {
      const limit = record.kind === 'value' ? this.#options.l1.ttl : this.#options.negativeTtl
      const ttl = Math.min(limit, record.expiresAt - Date.now())
      const bytes = record.kind === 'value' ? Buffer.byteLength(record.payload) : 0
      if (ttl > 0 && this.#installL1(key, lookup, ttl, bytes)) {
        this.#counters.promotions++
        this.events.emit('promote', { key, version: record.version, ttl })
      }
    }
    return lookup
  }

  async #load(key: string, flight: Flight<T>): Promise<Lookup<T>> {
    this.#counters.dbReads++
    const loaded = await this.#options.loader(key)
    const isAbsent = loaded === undefined || 'absent' in loaded
    const version = loaded?.version ?? 0
    const lookup = isAbsent ? missing(version, 'DB') : found(loaded.value, version, 'DB')
    const store = this.#l2Reads ? this.#store : undefined
    if (!this.#mayInstall(key, version, flight, store ? 'L2' : 'L1')) return lookup
    const ttl = isAbsent ? this.#options.negativeTtl : this.#options.l2.ttl
    const needsPayload = !isAbsent && (store !== undefined || this.#l1Sized)
    const payload =
      needsPayload && !isAbsent ? this.#options.serializer.serialize(loaded.value) : ''
    const bytes = payload === '' ? 0 : Buffer.byteLength(payload)

    if (store) {
      // Too large for L2: cached nowhere, since L1 takes only what L2 accepted.
      if (bytes > this.#options.l2.maxEntryBytes) return lookup
      // Without L2's verdict this instance cannot know whether a newer write exists: skip L1.
      if (this.#breaker?.open || !this.#coherence.online) return lookup
      const expiresAt = Date.now() + ttl
      const generation = flight.generation
      const record: L2Record = isAbsent
        ? { kind: 'absent', version, expiresAt, generation }
        : { kind: 'value', version, expiresAt, generation, payload }
      let accepted: boolean
      // Redis refuses it past the load's deadline, on its own clock: a set delayed on its way
      // there (a paused process, a slow link) must not land after the fence that would refuse it
      // has expired. (fenceTtl exceeds maxLoadTime by far more than any clock skew.)
      const deadline =
        Date.now() + this.#options.maxLoadTime - (performance.now() - flight.startedAt)
      try {
        accepted = await store.set(key, record, ttl, deadline)
      } catch (error) {
        this.#redisFailed('l2.set', error)
        return lookup
      }
      if (!accepted) {
        this.#rejectStale(key, version, flight.fence, 'L2')
        return lookup
      }
      // Anything may have happened during the round trip: ask again before L1.
      if (!this.#mayInstall(key, version, flight, 'L1')) return lookup
    }
    if (this.#l1Enabled) {
      this.#installL1(
        key,
        lookup,
        isAbsent ? this.#options.negativeTtl : this.#options.l1.ttl,
        bytes,
      )
    }
    return lookup
  }

  /**
   * Puts a lookup in L1 (misses apart from values) while L1 serves, unless the value weighs
   * more than `l1.maxEntryBytes`. `serializedBytes` is the UTF-8 length of its serialized form.
   */
  #installL1(key: string, lookup: Lookup<T>, ttl: number, serializedBytes: number): boolean {
    if (!(performance.now() < this.#coherence.servingUntil)) return false
    const entry = Object.freeze({ ...lookup, level: 'L1' as const })
    if (!lookup.found) {
      this.#l1.setMiss(key, entry, ttl)
      return true
    }
    const weight = this.#options.l1.weigh(serializedBytes)
    if (weight > this.#options.l1.maxEntryBytes) return false
    this.#l1.set(key, entry, ttl, weight)
    return true
  }

  /**
   * Whether what `flight` read (at `version`) may be installed now. Not when the flight was
   * detached (an invalidation or a local clear since it began), when it is older than
   * `maxLoadTime` (a fence may have expired meanwhile), when it began in a quarantine (Redis
   * lost fences), or when a newer version is known.
   */
  #mayInstall(key: string, version: number, flight: Flight<T>, tier: 'L1' | 'L2'): boolean {
    if (
      flight.detached ||
      flight.epoch !== this.#coherence.epoch ||
      performance.now() - flight.startedAt > this.#options.maxLoadTime ||
      flight.startedAt < this.#coherence.quarantineUntil
    ) {
      this.#counters.discardedLoads++
      return false
    }
    const fence = Math.max(flight.fence, this.#fences.get(key) ?? 0)
    if (version >= fence) return true
    this.#rejectStale(key, version, fence, tier)
    return false
  }

  #rejectStale(key: string, version: number, fence: number, tier: 'L1' | 'L2'): void {
    this.#counters.staleSetsRejected++
    this.events.emit('stale-set-rejected', { key, version, fence, tier })
  }

  /** Drops a key here and remembers its version, so no older load lands afterwards. */
  #evict(key: string, version: number): void {
    this.#l1.delete(key)
    if (version > (this.#fences.get(key) ?? -1)) this.#fences.set(key, version)
    const flight = this.#flights.get(key)
    if (flight) {
      flight.fence = Math.max(flight.fence, version)
      flight.detached = true
      // Readers from now on start a fresh load instead of joining one that predates the write.
      this.#flights.delete(key)
    }
  }

  #invalidated(key: string, version: number): void {
    this.#counters.invalidationsSent++
    this.events.emit('invalidate', { key, version, origin: this.#origin, local: true })
  }

  /**
   * A write was refused after its fences went up: take them back, or the key would stay
   * uncacheable for `fenceTtl` with nothing newer to serve. Locally at once (the write still
   * holds its key's lock, so no other write of the key can have raised it since); in Redis only
   * the fence this write left, once Redis answers.
   */
  #restoreFence(key: string, version: number, previous: number | undefined, fence: LeftFence) {
    if (this.#fences.get(key) === version) {
      if (previous === undefined) this.#fences.delete(key)
      else this.#fences.set(key, previous)
      this.#counters.fencesRestored++
    }
    const reachable = !this.#breaker?.open && this.#redis?.status === 'ready'
    this.#unfences?.add(key, fence, reachable)
  }

  /** Empties L1 and detaches every load in flight. */
  #dropLocal(): void {
    this.#l1.clear()
    for (const flight of this.#flights.values()) flight.detached = true
    this.#flights.clear()
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
