import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { type BusMessage, invalidationProblem } from './bus/messages.js'
import { type BusState, RedisBus } from './bus/redis-bus.js'
import type { CacheLevel, L2Record, Lookup } from './entry.js'
import { ClearError, ClosedError, InvalidationError } from './errors.js'
import { CacheEventEmitter } from './events.js'
import { type ResolvedOptions, resolveOptions, type TieredCacheOptions } from './options.js'
import { RedisBreaker } from './redis-breaker.js'
import { type CacheStats, Counters, percent } from './stats.js'
import type { L2Store } from './stores/l2-store.js'
import { MemoryStore } from './stores/memory-store.js'
import { RedisStore } from './stores/redis-store.js'

/** One in-progress fill of a key (L2 read, then loader). Concurrent misses share it. */
interface Flight<T> {
  promise: Promise<Lookup<T>>
  /** The newest version known to be written since the flight began: anything older is not installed. */
  fence: number
  /** The instance epoch at start. A clear or a bus loss since then bars the result from L1. */
  epoch: number
  /** The L2 namespace generation at start; what the flight writes to L2 is tagged with it. */
  generation: number
}

/** The health of each tier, as `/health` reports it. */
export interface CacheHealth {
  mode: string
  l1: 'serving' | 'bypassed' | 'off'
  l2: 'up' | 'down' | 'off'
  bus: 'up' | 'down' | 'off'
}

/** How much of a malformed bus payload the `malformed` event carries. */
const MALFORMED_RAW_SHOWN = 1024

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
 *
 * Coherency rests on three rules:
 * 1. Every entry carries its record's version; a write leaves a fence (in L2 and in every
 *    replica's memory) that refuses any older version, so a slow load never installs stale data.
 * 2. L1 serves only while the bus subscription is up, and starts empty after every resubscribe,
 *    because pub/sub drops the messages sent while a subscriber was away.
 * 3. Concurrent misses for a key share one flight, detached on invalidation so that a read that
 *    begins after a write never joins a load that began before it.
 */
export class TieredCache<T> {
  /** Typed events; see {@link CacheEvents}. */
  readonly events = new CacheEventEmitter()

  readonly #options: ResolvedOptions<T>
  readonly #counters = new Counters()
  readonly #l1: MemoryStore<T>
  readonly #l1Enabled: boolean
  readonly #l2: L2Store | undefined
  readonly #bus: RedisBus | undefined
  readonly #redis: Redis | undefined
  readonly #subscriber: Redis | undefined
  readonly #breaker: RedisBreaker | undefined
  readonly #ownsRedis: boolean
  readonly #flights = new Map<string, Flight<T>>()
  /** Key → highest version this instance has seen invalidated, for loads that start afterwards. */
  readonly #fences: LRUCache<string, number>
  readonly #waiters = new Set<() => void>()
  #l1Serving = false
  /**
   * True while this instance knows L2's generation, and no clear heard on the bus awaits its
   * confirmation; otherwise L2 is not read.
   */
  #online = false
  /** True between a (re)subscribe whose generation is known and the next bus loss. */
  #synced = false
  #epoch = 0
  #generation = 0
  /** Clears heard on the bus, and how many of them are confirmed by reading the generation. */
  #clearsHeard = 0
  #clearsConfirmed = 0
  #closed = false
  #generationRetry: NodeJS.Timeout | undefined
  #clearRetry: NodeJS.Timeout | undefined

  constructor(options: TieredCacheOptions<T>) {
    const o = resolveOptions(options)
    this.#options = o
    this.#l1Enabled = o.mode === 'multi' || o.mode === 'l1'
    this.#l1 = new MemoryStore<T>(o.l1)
    this.#fences = new LRUCache<string, number>({ max: o.maxLocalFences, ttl: o.fenceTtl })

    if (o.mode === 'none' || o.redis === undefined) {
      this.#ownsRedis = false
      this.#online = true
      return
    }
    this.#ownsRedis = typeof o.redis === 'string'
    this.#redis =
      typeof o.redis === 'string'
        ? new Redis(o.redis, {
            // Fail fast while Redis is away: a read then degrades to the loader at once.
            enableOfflineQueue: false,
            maxRetriesPerRequest: 1,
            commandTimeout: o.redisCommandTimeout,
            retryStrategy: (attempt) => Math.min(attempt * 50, 1_000),
            // The ready check sends INFO, which a least-privilege ACL user should not be allowed;
            // it only matters while Redis loads a dataset from disk, and reads degrade meanwhile.
            enableReadyCheck: false,
          })
        : o.redis
    if (this.#ownsRedis) this.#redis.on('error', (error) => this.#degraded('redis', error))
    const breaker = new RedisBreaker(this.#redis, o.redisProbeInterval, (open) =>
      this.events.emit('redis', { state: open ? 'down' : 'up' }),
    )
    this.#breaker = breaker
    this.#redis.on('ready', () => breaker.reconnected())
    if (o.mode === 'multi' || o.mode === 'l2') {
      this.#l2 = o.wrapL2(new RedisStore({ redis: this.#redis, prefix: o.prefix }))
    }
    this.#subscriber = this.#redis.duplicate({
      autoResubscribe: false,
      enableOfflineQueue: false,
      retryStrategy: (attempt) => Math.min(attempt * 50, 1_000),
    })
    this.#subscriber.on('error', (error) => this.#degraded('bus', error))
    this.#bus = new RedisBus(
      {
        subscriber: this.#subscriber,
        publisher: this.#redis,
        channel: `${o.prefix}:bus`,
        origin: o.instanceId,
        heartbeatInterval: o.heartbeatInterval,
        // Without L1 nothing could be stale, so nothing needs a lease.
        lease: this.#l1Enabled ? o.busLease : 0,
      },
      {
        onMessage: (message) => this.#receive(message),
        onState: (state) => this.#onBusState(state),
        onMalformed: (raw, error) => {
          this.#counters.malformedMessages++
          // Listeners get a prefix: a forged payload can be megabytes long.
          this.events.emit('malformed', { raw: raw.slice(0, MALFORMED_RAW_SHOWN), error })
        },
        onLease: (held) => this.#onLease(held),
      },
    )
    this.#bus.start()
  }

  /** This instance's id on the bus. */
  get instanceId(): string {
    return this.#options.instanceId
  }

  /**
   * Reads a key through L1 → L2 → loader. Never rejects because Redis is down; rejects only
   * when the loader does.
   * @example const hit = await cache.get('user:1'); if (hit.found) use(hit.value, hit.level)
   */
  get(key: string): Promise<Lookup<T>> {
    this.#counters.reads++
    if (this.#l1Serving) {
      const hit = this.#l1.get(key)
      if (hit !== undefined) {
        this.#counters.l1Hits++
        return Promise.resolve(hit)
      }
    }
    if (this.#l1Enabled) this.#counters.l1Misses++
    if (this.#closed) return Promise.reject(new ClosedError())
    return this.#flights.get(key)?.promise ?? this.#startFlight(key)
  }

  /**
   * The synchronous half of `get()`: the L1 entry when L1 is serving and holds the key, counted
   * as a read and an L1 hit; otherwise undefined and nothing is counted (call `get()` then).
   * For callers whose hot path must not await, such as an HTTP fast path for L1 hits.
   * @example const hit = cache.peek(key) ?? (await cache.get(key))
   */
  peek(key: string): Lookup<T> | undefined {
    if (!this.#l1Serving) return undefined
    const hit = this.#l1.get(key)
    if (hit !== undefined) {
      this.#counters.reads++
      this.#counters.l1Hits++
    }
    return hit
  }

  /**
   * Announces that `key` changed to `version` (a write or a delete, committed or about to be).
   * Evicts it here at once, fences L2 against older versions and tells every replica.
   * Rejects with `InvalidationError` when Redis does not take it, or when the bus cannot carry
   * it (a key longer than `MAX_KEY_LENGTH` code points, a version that is not a safe
   * non-negative integer); the caller must then not acknowledge the write, because other
   * replicas may keep serving the old value.
   */
  async invalidate(key: string, version: number): Promise<void> {
    if (this.#closed) throw new ClosedError()
    // Peers drop what they cannot parse: an invalidation they would drop must not be sent, or
    // they would keep serving the old value. Refused before anything changes.
    const problem = invalidationProblem(key, version)
    if (problem)
      throw new InvalidationError(key, version, undefined, `it cannot be sent: ${problem}`)
    this.#evict(key, version)
    // Redis stopped answering: refuse now rather than after a timeout.
    if (this.#breaker?.open) throw new InvalidationError(key, version, REDIS_NOT_ANSWERING)
    const pending: Promise<void>[] = []
    if (this.#l2)
      pending.push(this.#l2.fence(key, version, this.#generation, this.#options.fenceTtl))
    if (this.#bus && this.#l1Enabled) {
      const origin = this.#options.instanceId
      pending.push(this.#bus.publish({ v: 1, type: 'invalidate', key, version, origin }))
    }
    try {
      // Both commands leave on the same connection before either reply: one round trip.
      await Promise.all(pending)
    } catch (error) {
      this.#breaker?.failed(error)
      throw new InvalidationError(key, version, error)
    }
    this.#counters.invalidationsSent++
    this.events.emit('invalidate', { key, version, origin: this.#options.instanceId, local: true })
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
    let generation = this.#generation
    try {
      if (this.#breaker?.open) throw REDIS_NOT_ANSWERING
      if (this.#l2) generation = await this.#l2.bumpGeneration()
      const origin = this.#options.instanceId
      if (this.#bus) await this.#bus.publish({ v: 1, type: 'clear', generation, origin })
    } catch (error) {
      this.#clearLocal()
      if (error !== REDIS_NOT_ANSWERING) this.#breaker?.failed(error)
      throw new ClearError(error)
    }
    this.#generation = Math.max(this.#generation, generation)
    this.#clearLocal()
    this.events.emit('clear', { generation, origin: this.#options.instanceId, local: true })
  }

  /** Resolves true once the bus is subscribed and the L2 generation is known; false on timeout. */
  whenReady(timeoutMs = 5_000): Promise<boolean> {
    if (this.#bus === undefined || this.#synced) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(done)
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(done)
        resolve(false)
      }, timeoutMs)
      this.#waiters.add(done)
    })
  }

  /** A snapshot of the counters with hit rates in percent. */
  stats(): CacheStats {
    const c = this.#counters
    return {
      reads: c.reads,
      l1Hits: c.l1Hits,
      l1Misses: c.l1Misses,
      l1HitRate: percent(c.l1Hits, c.l1Hits + c.l1Misses),
      l2Hits: c.l2Hits,
      l2Misses: c.l2Misses,
      l2HitRate: percent(c.l2Hits, c.l2Hits + c.l2Misses),
      combinedHitRate: percent(c.l1Hits + c.l2Hits, c.reads),
      dbReads: c.dbReads,
      promotions: c.promotions,
      staleSetsRejected: c.staleSetsRejected,
      invalidationsSent: c.invalidationsSent,
      invalidationsReceived: c.invalidationsReceived,
      clearsReceived: c.clearsReceived,
      malformedMessages: c.malformedMessages,
      redisErrors: c.redisErrors,
      busDisconnects: c.busDisconnects,
      leaseLapses: c.leaseLapses,
      l1Size: this.#l1Enabled ? this.#l1.size : 0,
      l1MaxSize: this.#l1Enabled ? this.#l1.maxEntries : 0,
      l1Bytes: this.#l1.bytes,
      busState: this.#bus ? this.#bus.state : 'off',
      generation: this.#generation,
    }
  }

  /** The state of each tier, for health checks. */
  health(): CacheHealth {
    return {
      mode: this.#options.mode,
      l1: !this.#l1Enabled ? 'off' : this.#l1Serving ? 'serving' : 'bypassed',
      l2: !this.#l2
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
    this.#l1Serving = false
    clearTimeout(this.#generationRetry)
    clearTimeout(this.#clearRetry)
    this.#breaker?.stop()
    await this.#bus?.close()
    this.#clearLocal()
    const quit = async (redis: Redis | undefined) => {
      if (!redis) return
      await redis.quit().catch(() => redis.disconnect())
    }
    await quit(this.#subscriber)
    if (this.#ownsRedis) await quit(this.#redis)
  }

  #startFlight(key: string): Promise<Lookup<T>> {
    const flight: Flight<T> = {
      promise: undefined as unknown as Promise<Lookup<T>>,
      fence: this.#fences.get(key) ?? 0,
      epoch: this.#epoch,
      generation: this.#generation,
    }
    this.#flights.set(key, flight)
    flight.promise = this.#fill(key, flight).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key)
    })
    return flight.promise
  }

  async #fill(key: string, flight: Flight<T>): Promise<Lookup<T>> {
    if (this.#l2 && this.#online && !this.#breaker?.open) {
      const hit = await this.#readL2(key, flight)
      if (hit) return hit
    }
    return this.#load(key, flight)
  }

  async #readL2(key: string, flight: Flight<T>): Promise<Lookup<T> | undefined> {
    let record: L2Record | undefined
    try {
      record = await this.#l2?.get(key)
    } catch (error) {
      this.#redisFailed('l2.get', error)
    }
    if (record === undefined) {
      this.#counters.l2Misses++
      return undefined
    }
    // Whatever L2 holds, no load may install a version older than it.
    flight.fence = Math.max(flight.fence, record.version)
    if (
      record.kind === 'fence' ||
      record.generation < flight.generation ||
      record.expiresAt <= Date.now()
    ) {
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
    if (this.#l1Enabled && this.#mayInstallL1(key, record.version, flight)) {
      const limit = record.kind === 'value' ? this.#options.l1.ttl : this.#options.negativeTtl
      const ttl = Math.min(limit, record.expiresAt - Date.now())
      if (ttl > 0) {
        const bytes = record.kind === 'value' ? Buffer.byteLength(record.payload) : 1
        this.#l1.set(key, Object.freeze({ ...lookup, level: 'L1' }), ttl, bytes)
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
    const ttl = isAbsent ? this.#options.negativeTtl : this.#options.l2.ttl
    const needsPayload =
      !isAbsent && (this.#l2 !== undefined || this.#options.l1.maxBytes !== undefined)
    const payload =
      needsPayload && !isAbsent ? this.#options.serializer.serialize(loaded.value) : ''

    if (this.#l2) {
      // Without L2's verdict this instance cannot know whether a newer write exists: skip L1.
      if (this.#breaker?.open) return lookup
      const fence = Math.max(flight.fence, this.#fences.get(key) ?? 0)
      if (version < fence) {
        this.#rejectStale(key, version, fence, 'L2')
        return lookup
      }
      const expiresAt = Date.now() + ttl
      const generation = flight.generation
      const record: L2Record = isAbsent
        ? { kind: 'absent', version, expiresAt, generation }
        : { kind: 'value', version, expiresAt, generation, payload }
      let accepted: boolean
      try {
        accepted = await this.#l2.set(key, record, ttl)
      } catch (error) {
        this.#redisFailed('l2.set', error)
        return lookup
      }
      if (!accepted) {
        this.#rejectStale(key, version, fence, 'L2')
        return lookup
      }
    }
    if (this.#l1Enabled && this.#mayInstallL1(key, version, flight)) {
      const l1Ttl = isAbsent ? this.#options.negativeTtl : this.#options.l1.ttl
      const entry = Object.freeze({ ...lookup, level: 'L1' as const })
      this.#l1.set(key, entry, l1Ttl, payload ? Buffer.byteLength(payload) : 1)
    }
    return lookup
  }

  #mayInstallL1(key: string, version: number, flight: Flight<T>): boolean {
    if (!this.#l1Serving || flight.epoch !== this.#epoch) return false
    const fence = Math.max(flight.fence, this.#fences.get(key) ?? 0)
    if (version >= fence) return true
    this.#rejectStale(key, version, fence, 'L1')
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
      // Readers from now on start a fresh load instead of joining one that predates the write.
      this.#flights.delete(key)
    }
  }

  #clearLocal(): void {
    this.#epoch++
    this.#l1.clear()
    this.#flights.clear()
  }

  #receive(message: BusMessage): void {
    if (message.type === 'invalidate') {
      this.#evict(message.key, message.version)
      this.#counters.invalidationsReceived++
      this.events.emit('invalidate', {
        key: message.key,
        version: message.version,
        origin: message.origin,
        local: false,
      })
      return
    }
    // A clear empties L1 at once. The new generation is then read from Redis, never taken from
    // the message, so a forged one cannot move it (a forged high generation would orphan L2 and
    // let entries outlive every later clear). Until it is read, L2 is not read: its entries from
    // before the clear must not be served.
    this.#clearLocal()
    this.#counters.clearsReceived++
    if (!this.#l2) {
      this.events.emit('clear', {
        generation: message.generation,
        origin: message.origin,
        local: false,
      })
      return
    }
    this.#clearsHeard++
    this.#online = false
    this.#confirmClear(this.#l2, message.origin)
  }

  /** Reads L2's generation; every clear heard before the read was sent is then confirmed. */
  async #refreshGeneration(l2: L2Store): Promise<void> {
    const heard = this.#clearsHeard
    const generation = await l2.readGeneration()
    this.#generation = Math.max(this.#generation, generation)
    this.#clearsConfirmed = Math.max(this.#clearsConfirmed, heard)
  }

  /** After a clear heard on the bus: read L2 again once the generation is confirmed. */
  #confirmClear(l2: L2Store, origin: string): void {
    clearTimeout(this.#clearRetry)
    this.#refreshGeneration(l2).then(
      () => {
        if (this.#closed) return
        this.#online = this.#clearsConfirmed === this.#clearsHeard
        this.events.emit('clear', { generation: this.#generation, origin, local: false })
      },
      (error: unknown) => {
        this.#degraded('l2.generation', error)
        if (this.#closed) return
        this.#clearRetry = setTimeout(() => this.#confirmClear(l2, origin), 250)
        this.#clearRetry.unref()
      },
    )
  }

  #onBusState(state: BusState): void {
    // Either way, what L1 holds and what is in flight may predate messages this instance missed.
    this.#l1Serving = false
    this.#synced = false
    this.#clearLocal()
    if (state === 'down') {
      this.#counters.busDisconnects++
    } else {
      this.#comeOnline()
    }
    this.events.emit('bus', { state })
  }

  /** After a (re)subscribe: learn the current generation, then let L1 serve again, empty. */
  #comeOnline(): void {
    clearTimeout(this.#generationRetry)
    if (!this.#l2) {
      this.#setOnline()
      return
    }
    this.#refreshGeneration(this.#l2).then(
      () => {
        this.#breaker?.succeeded()
        if (this.#closed || this.#bus?.state !== 'up') return
        this.#setOnline()
      },
      (error: unknown) => {
        this.#redisFailed('l2.generation', error)
        if (this.#closed || this.#bus?.state !== 'up') return
        this.#generationRetry = setTimeout(() => this.#comeOnline(), 250)
        this.#generationRetry.unref()
      },
    )
  }

  /**
   * The bus's lease lapsed or came back. L1 keeps its entries either way: a lapse means messages
   * may be late, not lost (a lost connection takes the bus down instead), and the PONG that
   * renews the lease arrives after every message sent before it.
   */
  #onLease(held: boolean): void {
    if (!held) {
      this.#l1Serving = false
      this.#counters.leaseLapses++
    } else if (this.#synced && !this.#closed) {
      this.#l1Serving = this.#l1Enabled
    }
    this.events.emit('lease', { held })
  }

  #setOnline(): void {
    // A clear heard after the generation was read is still being confirmed; it turns L2 on.
    this.#online = this.#clearsConfirmed === this.#clearsHeard
    this.#synced = true
    this.#clearLocal()
    this.#l1Serving = this.#l1Enabled && (this.#bus?.leaseHeld ?? true)
    for (const waiter of [...this.#waiters]) waiter()
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
