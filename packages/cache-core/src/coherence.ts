import { randomInt } from 'node:crypto'
import { type BusMessage, lagSeconds } from './bus/messages.js'
import type { BusHandlers, BusState, RedisBus } from './bus/redis-bus.js'
import type { CacheEventEmitter } from './events.js'
import type { Counters } from './stats.js'
import type { L2Store } from './stores/l2-store.js'

/** How much of a malformed bus payload the `malformed` event carries. */
const MALFORMED_RAW_SHOWN = 1024

/** Milliseconds between attempts to read the generation while Redis does not answer. */
const GENERATION_RETRY_MS = 250

/** Where a fresh namespace's generation starts: at random, so a re-created key always moves. */
const FRESH_GENERATION_LIMIT = 2 ** 31

/** What the coherence state needs from the cache that owns it. */
export interface CoherenceHost {
  /** Empties L1 and detaches every load in flight (they may predate what was missed). */
  dropLocal(): void
  /** A key changed to `version` elsewhere: evict it, fence it locally, detach its load. */
  evict(key: string, version: number): void
  /** A command on the command connection failed. */
  redisFailed(operation: string, error: unknown): void
  /** A command on the command connection was answered. */
  redisAnswered(): void
  /** Something Redis-side failed and was degraded around. */
  degraded(operation: string, error: unknown): void
}

/** The parts of the cache the coherence state listens to or reads. */
export interface CoherenceParts {
  /** Whether this instance has an L1 at all. */
  l1Enabled: boolean
  /** The shared store, for the generation; undefined without Redis. */
  store: L2Store | undefined
  /** See `maxWriteTime`: the quarantine after Redis lost data. */
  maxWriteTime: number
  counters: Counters
  events: CacheEventEmitter
}

/**
 * When this instance may serve L1 and read L2, and what it must refuse: the state that bus
 * messages, bus outages, the lease and Redis restarts move. The read path consults it; it never
 * touches L1 or the loads in flight itself, but asks the cache through {@link CoherenceHost}.
 *
 * - `servingUntil`: L1 serves while `performance.now()` is below it. 0 unless the bus is up,
 *   the generation known (synced) and the lease held; the lease's end otherwise.
 * - `online`: L2 may be read and written: the generation is known since the last (re)subscribe,
 *   and no clear heard on the bus still waits for it to be re-read.
 * - `epoch`: bumped whenever L1 is dropped; a load that started in an older epoch installs nothing.
 * - `quarantineUntil`: a load that started before it installs nothing (Redis lost its fences).
 */
export class Coherence {
  /** L1 serves while `performance.now()` is below this. Read on every L1 lookup. */
  servingUntil = 0
  /** Loads that started before this (`performance.now()` clock) install nothing. */
  quarantineUntil = Number.NEGATIVE_INFINITY
  #epoch = 0
  #generation = 0
  #online = false
  #synced = false
  #leaseLapsed = false
  /** Clears heard on the bus, and how many of them are confirmed by reading the generation. */
  #clearsHeard = 0
  #clearsConfirmed = 0
  #closed = false
  #generationRetry: NodeJS.Timeout | undefined
  #clearRetry: NodeJS.Timeout | undefined
  readonly #waiters = new Set<() => void>()
  /** Reads waiting for the lease to be renewed (see {@link leaseRenewed}). */
  readonly #leaseWaiters = new Set<() => void>()
  readonly #host: CoherenceHost
  readonly #parts: CoherenceParts
  #bus: RedisBus | undefined

  constructor(host: CoherenceHost, parts: CoherenceParts) {
    this.#host = host
    this.#parts = parts
    // Without Redis there is no bus to miss and no shared tier to disagree with.
    if (parts.store === undefined) {
      this.#online = true
      this.#synced = true
    }
  }

  /** Attaches the bus whose events drive this state (see {@link busHandlers}). */
  attach(bus: RedisBus): void {
    this.#bus = bus
    this.#synced = false
    this.#online = false
  }

  get epoch(): number {
    return this.#epoch
  }

  get generation(): number {
    return this.#generation
  }

  /** L2 may be read and written. */
  get online(): boolean {
    return this.#online
  }

  /**
   * Whether the bus lease holds at `now` (`performance.now()`): every invalidation published
   * more than a lease ago has been applied. Always true without a bus or with leases off while
   * subscribed. Shared L2 reads and joins of loads in flight need it, as L1 does.
   */
  leaseHeld(now: number): boolean {
    return this.#bus === undefined || now < this.#bus.leaseUntil
  }

  /**
   * Resolves true as soon as the lease holds again, or false after `timeoutMs`. A lease that ran
   * out because a heartbeat came back late (a busy machine, a GC pause) is usually renewed within
   * a heartbeat interval: a read that needs L2 waits that long rather than go to the source.
   */
  leaseRenewed(timeoutMs: number): Promise<boolean> {
    if (this.leaseHeld(performance.now())) return Promise.resolve(true)
    return wakeOrTimeout(this.#leaseWaiters, timeoutMs)
  }

  /** What the bus reports, bound to this state. */
  busHandlers(): BusHandlers {
    return {
      onMessage: (message) => this.#receive(message),
      onState: (state) => this.#onBusState(state),
      onMalformed: (raw, error) => this.#onMalformed(raw, error),
      onLease: (until) => this.#onLease(until),
      onLeaseLapsed: () => this.#onLeaseLapsed(),
    }
  }

  /** Drops L1 and detaches every load: a new epoch. */
  dropLocal(): void {
    this.#epoch++
    this.#host.dropLocal()
  }

  /** This instance cleared the cache and moved L2 to `generation`. */
  cleared(generation: number): void {
    this.#generation = Math.max(this.#generation, generation)
    this.dropLocal()
  }

  /** Resolves true once synced; false on timeout. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true)
    return wakeOrTimeout(this.#waiters, timeoutMs)
  }

  close(): void {
    this.#closed = true
    this.servingUntil = 0
    clearTimeout(this.#generationRetry)
    clearTimeout(this.#clearRetry)
  }

  #receive(message: BusMessage): void {
    if (message.type === 'invalidate') {
      this.#host.evict(message.key, message.version)
      this.#parts.counters.invalidationsReceived++
      this.#parts.events.emit('invalidate', {
        key: message.key,
        version: message.version,
        origin: message.origin,
        local: false,
      })
      this.#lag(message)
      return
    }
    // A clear empties L1 at once. The new generation is then read from Redis, never taken from
    // the message, so a forged one cannot move it (a forged high generation would orphan L2 and
    // let entries outlive every later clear). Until it is read, L2 is not read: its entries from
    // before the clear must not be served.
    this.dropLocal()
    this.#lag(message)
    this.#parts.counters.clearsReceived++
    const store = this.#parts.store
    if (!store) {
      this.#parts.events.emit('clear', {
        generation: message.generation,
        origin: message.origin,
        local: false,
      })
      return
    }
    this.#clearsHeard++
    this.#online = false
    this.#confirmClear(store, message.origin)
  }

  /** Reports how long after its publish `message` took effect here, when it says when that was. */
  #lag(message: BusMessage): void {
    const seconds = lagSeconds(message.publishedAt)
    if (seconds === undefined) return
    this.#parts.events.emit('invalidation-lag', {
      seconds,
      type: message.type,
      origin: message.origin,
    })
  }

  /**
   * A payload on our channel that this instance cannot read: a garbled message, or one from a
   * newer release (an unknown `v` or `type`). It may have invalidated anything, so L1 is dropped.
   * A forged clear can do as much, so this gives an attacker nothing new.
   */
  #onMalformed(raw: string, error: string): void {
    this.#parts.counters.malformedMessages++
    this.dropLocal()
    // Listeners get a prefix: a forged payload can be megabytes long.
    this.#parts.events.emit('malformed', { raw: raw.slice(0, MALFORMED_RAW_SHOWN), error })
  }

  /** Reads (and repairs) L2's generation; every clear heard before the read was sent is confirmed. */
  async #syncGeneration(store: L2Store): Promise<{ moved: boolean }> {
    const heard = this.#clearsHeard
    const known = this.#generation
    const generation = await store.syncGeneration(known, 1 + randomInt(FRESH_GENERATION_LIMIT))
    this.#generation = Math.max(known, generation)
    this.#clearsConfirmed = Math.max(this.#clearsConfirmed, heard)
    return { moved: known > 0 && generation !== known }
  }

  /** After a clear heard on the bus: read L2 again once the generation is confirmed. */
  #confirmClear(store: L2Store, origin: string): void {
    clearTimeout(this.#clearRetry)
    this.#syncGeneration(store).then(
      () => {
        if (this.#closed) return
        this.#online = this.#synced && this.#clearsConfirmed === this.#clearsHeard
        this.#parts.events.emit('clear', { generation: this.#generation, origin, local: false })
      },
      (error: unknown) => {
        this.#host.degraded('l2.generation', error)
        if (this.#closed) return
        this.#clearRetry = setTimeout(() => this.#confirmClear(store, origin), GENERATION_RETRY_MS)
        this.#clearRetry.unref()
      },
    )
  }

  #onBusState(state: BusState): void {
    // Either way, what L1 holds and what is in flight may predate messages this instance missed.
    this.servingUntil = 0
    this.#synced = false
    this.#online = false
    this.dropLocal()
    if (state === 'down') {
      this.#parts.counters.busDisconnects++
    } else {
      this.#comeOnline()
    }
    this.#parts.events.emit('bus', { state })
  }

  /** After a (re)subscribe: learn the current generation, then let L1 serve again, empty. */
  #comeOnline(): void {
    clearTimeout(this.#generationRetry)
    const store = this.#parts.store
    if (!store) {
      this.#setOnline()
      return
    }
    this.#syncGeneration(store).then(
      ({ moved }) => {
        this.#host.redisAnswered()
        if (this.#closed || this.#bus?.state !== 'up') return
        // The generation moved while this instance was not listening: a clear it missed, or
        // Redis lost its data, fences included. It cannot tell which, so it assumes the worst.
        if (moved) this.#dataLost()
        this.#setOnline()
      },
      (error: unknown) => {
        this.#host.redisFailed('l2.generation', error)
        if (this.#closed || this.#bus?.state !== 'up') return
        this.#generationRetry = setTimeout(() => this.#comeOnline(), GENERATION_RETRY_MS)
        this.#generationRetry.unref()
      },
    )
  }

  /**
   * Redis may have lost the fences of writes still committing: a load that starts before they
   * commit reads the old row, and no fence would refuse it. Such a write commits within
   * `maxWriteTime` of its fence, and the fence came before the loss, so loads that start later
   * than that after this moment are safe; earlier ones install nothing.
   */
  #dataLost(): void {
    this.quarantineUntil = performance.now() + this.#parts.maxWriteTime
    this.#parts.counters.dataLosses++
    this.#parts.events.emit('data-loss', {
      generation: this.#generation,
      quarantineMs: this.#parts.maxWriteTime,
    })
  }

  #setOnline(): void {
    // A clear heard after the generation was read is still being confirmed; it turns L2 on.
    this.#online = this.#clearsConfirmed === this.#clearsHeard
    this.#synced = true
    this.dropLocal()
    this.#serve()
    for (const waiter of [...this.#waiters]) waiter()
    for (const waiter of [...this.#leaseWaiters]) waiter()
  }

  /** L1 serves until the lease runs out, once synced. */
  #serve(): void {
    const until = this.#bus ? this.#bus.leaseUntil : Number.POSITIVE_INFINITY
    this.servingUntil = this.#synced && this.#parts.l1Enabled && !this.#closed ? until : 0
  }

  #onLease(_until: number): void {
    this.#serve()
    for (const waiter of [...this.#leaseWaiters]) waiter()
    if (this.#leaseLapsed) {
      this.#leaseLapsed = false
      this.#parts.events.emit('lease', { held: true })
    }
  }

  /**
   * The lease ran out with no heartbeat back. L1 already stopped serving (every read checks the
   * lease); this only counts and reports it. L1 keeps its entries: messages are late, not lost
   * (a lost subscription takes the bus down instead), and the heartbeat that renews the lease
   * comes back after every message published before it.
   */
  #onLeaseLapsed(): void {
    if (this.#leaseLapsed) return
    this.#leaseLapsed = true
    this.#parts.counters.leaseLapses++
    this.#parts.events.emit('lease', { held: false })
  }
}

/**
 * Adds a waiter to `waiters` that resolves true when called (the caller's condition holds), or
 * false after `timeoutMs`; either way it leaves the set.
 */
function wakeOrTimeout(waiters: Set<() => void>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      waiters.delete(done)
      resolve(true)
    }
    const timer = setTimeout(() => {
      waiters.delete(done)
      resolve(false)
    }, timeoutMs)
    waiters.add(done)
  })
}
