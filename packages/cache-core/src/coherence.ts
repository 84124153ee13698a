import type { BusMessage } from './bus/messages.js'
import type { BusHandlers, BusLink, BusState } from './bus/redis-bus.js'
import { type CacheEventEmitter, emitLag, emitReceived } from './events.js'
import { Generations } from './generations.js'
import { LeaseReports } from './lease-reports.js'
import { type DropTarget, PartitionDrops } from './partition-drops.js'
import type { Partitioning } from './partitions.js'
import { StateWaiters } from './state-waiters.js'
import type { Counters } from './stats.js'
import type { L2Store } from './stores/l2-store.js'

/** How much of a malformed bus payload the `malformed` event carries. */
const MALFORMED_RAW_SHOWN = 1024

/** Milliseconds between attempts to read the generation while Redis does not answer. */
const GENERATION_RETRY_MS = 250

/** What the coherence state needs from the cache that owns it. */
export interface CoherenceHost extends DropTarget {
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
  /** Where keys live: one partition on a single Redis server, many on a cluster. */
  partitioning: Partitioning
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
 * Each partition (one on a single server, one per hash tag on a cluster: see `Partitioning`) is
 * an instance of the same protocol, with its own generation, and its own link: the subscription
 * that carries its channel, whose lease vouches for it. A link that goes down, or whose lease
 * lapses, stops its own partitions only.
 *
 * - `online(p)`: L1 may serve and L2 may be read and written for `p` (under its link's lease):
 *   its generation is known since the link's last (re)subscribe, and no clear heard since still
 *   waits for it to be re-read. `servingUntil` is the earliest lease end while all are online.
 * - `epoch`: bumped whenever all of L1 is dropped; a load that started in an older epoch installs
 *   nothing. (A partition's own drops detach its loads instead.)
 * - `quarantineUntil(p)`: a load of `p` that started before it installs nothing (Redis lost its
 *   fences).
 */
export class Coherence {
  /** L1 serves every partition while `performance.now()` is below this. Read on every L1 lookup. */
  servingUntil = 0
  #epoch = 0
  readonly #count: number
  readonly #generations: Generations
  readonly #synced: boolean[]
  readonly #online: boolean[]
  /** The node each partition last served from (its link's), to see it move. */
  readonly #servedFrom: (string | undefined)[]
  readonly #quarantineUntil: number[]
  /** The link carrying each partition while it is up. */
  readonly #link: (BusLink | undefined)[]
  readonly #leases: LeaseReports
  readonly #drops: PartitionDrops
  #hasBus = false
  #closed = false
  readonly #retries = new Map<BusLink | number, NodeJS.Timeout>()
  readonly #waiters = new StateWaiters()
  readonly #host: CoherenceHost
  readonly #parts: CoherenceParts

  constructor(host: CoherenceHost, parts: CoherenceParts) {
    this.#host = host
    this.#parts = parts
    this.#drops = new PartitionDrops(host)
    this.#leases = new LeaseReports(parts.counters, parts.events)
    const count = parts.partitioning.count
    this.#count = count
    // Without Redis there is no bus to miss and no shared tier to disagree with.
    const alone = parts.store === undefined
    this.#generations = new Generations(count)
    this.#synced = new Array<boolean>(count).fill(alone)
    this.#online = new Array<boolean>(count).fill(alone)
    this.#servedFrom = new Array<string | undefined>(count).fill(undefined)
    this.#quarantineUntil = new Array<number>(count).fill(Number.NEGATIVE_INFINITY)
    this.#link = new Array<BusLink | undefined>(count).fill(undefined)
  }

  /** From now on a bus drives this state (see {@link busHandlers}). */
  attachBus(): void {
    this.#hasBus = true
    this.#synced.fill(false)
    this.#online.fill(false)
  }

  get epoch(): number {
    return this.#epoch
  }

  /** Every partition's generation, as this instance last read it. */
  get generations(): Generations {
    return this.#generations
  }

  /** L2 may be read and written for keys of `partition`. */
  online(partition: number): boolean {
    return this.#online[partition] as boolean
  }

  /** Loads of `partition` that started before this (`performance.now()` clock) install nothing. */
  quarantineUntil(partition: number): number {
    return this.#quarantineUntil[partition] as number
  }

  /**
   * Whether L1 may serve a key of `partition` at `now`: online (synced, no clear unconfirmed: a
   * clear's sweep of L1 may still be pending), and its link's lease held.
   */
  serving(partition: number, now: number): boolean {
    if (!this.#parts.l1Enabled || this.#closed || !this.#online[partition]) return false
    const link = this.#link[partition]
    return link !== undefined && now < link.leaseUntil
  }

  /**
   * Whether L1 may serve `key` at `now`: one comparison while every partition serves; only on a
   * cluster with a shard out is the key's partition looked up. On every L1 read.
   */
  servesKey(key: string, now: number): boolean {
    if (now < this.servingUntil) return true
    const { partitioning } = this.#parts
    return partitioning.sharded && this.serving(partitioning.of(key), now)
  }

  /**
   * Whether the lease of `partition`'s link holds at `now` (`performance.now()`): every
   * invalidation of its keys published more than a lease ago has been applied. Always true
   * without a bus. Shared L2 reads and joins of loads in flight need it, as L1 does.
   */
  leaseHeld(partition: number, now: number): boolean {
    if (!this.#hasBus) return true
    const link = this.#link[partition]
    return link !== undefined && now < link.leaseUntil
  }

  /**
   * Resolves true as soon as the lease of `partition` holds again, or false after `timeoutMs`.
   * A lease that ran out because a heartbeat came back late (a busy machine, a GC pause) is
   * usually renewed within a heartbeat interval: a read that needs L2 waits that long rather
   * than go to the source.
   */
  leaseRenewed(partition: number, timeoutMs: number): Promise<boolean> {
    return this.#waiters.until(() => this.leaseHeld(partition, performance.now()), timeoutMs)
  }

  /** What the bus reports, bound to this state. */
  busHandlers(): BusHandlers {
    return {
      onMessage: (message, partition) => this.#receive(message, partition),
      onState: (link, state) => this.#onLinkState(link, state),
      onMalformed: (raw, error) => this.#onMalformed(raw, error),
      onLease: (link) => this.#onLease(link),
      onLeaseLapsed: (link) => this.#leases.lapsed(link),
    }
  }

  /** Drops all of L1 and detaches every load: a new epoch. */
  dropLocal(): void {
    this.#epoch++
    this.#drops.forget()
    this.#host.dropLocal()
  }

  /** This instance cleared the cache and moved each partition to `generations[p]`. */
  cleared(generations: readonly number[]): void {
    this.#generations.raise(generations)
    this.dropLocal()
  }

  /** Resolves true once every partition is online (synced, no clear unconfirmed); false on timeout. */
  whenReady(timeoutMs: number): Promise<boolean> {
    return this.#waiters.until(() => this.#online.every(Boolean), timeoutMs)
  }

  close(): void {
    this.#closed = true
    this.servingUntil = 0
    for (const retry of this.#retries.values()) clearTimeout(retry)
    this.#drops.forget()
  }

  #receive(message: BusMessage, partition: number): void {
    if (message.type === 'invalidate') {
      this.#host.evict(message.key, message.version)
      this.#parts.counters.invalidationsReceived++
      emitReceived(this.#parts.events, message)
      return
    }
    // A clear comes on every partition's channel (on a cluster, so that it reaches every shard).
    // Each empties its partition from L1 at once. The new generation is then read from Redis,
    // never taken from the message, so a forged one cannot move it (a forged high generation
    // would orphan L2 and let entries outlive every later clear). Until it is read, the
    // partition's L2 is not read: its entries from before the clear must not be served.
    this.#dropPartitions([partition])
    // Counted and reported once per clear: on partition 0, which every clear reaches.
    const first = partition === 0
    if (first) {
      emitLag(this.#parts.events, message)
      this.#parts.counters.clearsReceived++
    }
    const store = this.#parts.store
    if (!store) {
      if (first)
        this.#parts.events.emit('clear', {
          generation: message.generation,
          origin: message.origin,
          local: false,
        })
      return
    }
    this.#generations.heardClear(partition)
    this.#online[partition] = false
    this.#serve()
    this.#confirmClear(store, partition, message.origin)
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

  /** After a clear heard on `partition`'s channel: read its L2 again once its generation is confirmed. */
  #confirmClear(store: L2Store, partition: number, origin: string): void {
    this.#generations.sync(store, [partition]).then(
      () => {
        if (this.#closed) return
        this.#drops.flush()
        this.#online[partition] =
          (this.#synced[partition] as boolean) && this.#generations.confirmed(partition)
        this.#serve()
        this.#waiters.wake()
        if (partition === 0)
          this.#parts.events.emit('clear', {
            generation: this.#generations.of(0),
            origin,
            local: false,
          })
      },
      (error: unknown) => {
        this.#host.degraded('l2.generation', error)
        this.#retry(partition, () => this.#confirmClear(store, partition, origin))
      },
    )
  }

  /** Runs `action` after a pause; one pending retry per `what` (a link, a partition's clear). */
  #retry(what: BusLink | number, action: () => void): void {
    if (this.#closed) return
    clearTimeout(this.#retries.get(what))
    const timer = setTimeout(() => {
      this.#retries.delete(what)
      action()
    }, GENERATION_RETRY_MS)
    timer.unref()
    this.#retries.set(what, timer)
  }

  #onLinkState(link: BusLink, state: BusState): void {
    // Either way, what L1 holds of its partitions and what is in flight may predate messages
    // this instance missed.
    const mine = link.partitions.filter((p) =>
      state === 'up' ? true : this.#link[p] === link || this.#link[p] === undefined,
    )
    for (const p of mine) {
      this.#link[p] = state === 'up' ? link : undefined
      this.#synced[p] = false
      this.#online[p] = false
    }
    this.#leases.forget(link)
    this.#dropPartitions(mine)
    this.#serve()
    if (state === 'down') {
      this.#parts.counters.busDisconnects++
    } else {
      this.#comeOnline(link)
    }
    this.#parts.events.emit('bus', { state })
  }

  /** After a (re)subscribe: learn the link's generations, then let L1 serve them again, empty. */
  #comeOnline(link: BusLink): void {
    const store = this.#parts.store
    const current = () =>
      !this.#closed && link.state === 'up' && link.partitions.every((p) => this.#link[p] === link)
    if (!store) {
      this.#setOnline(link)
      return
    }
    // G4: a partition now on another master than it last served from (a failover, a slot
    // migration): the new master may lack the old one's last fences (replication is
    // asynchronous) while the generation key, older, made it, and a set sent before may land
    // there. Moving the generation on kills every record of the old one, and quarantines.
    const forced = new Set(
      link.partitions.filter((p) => ![undefined, link.node].includes(this.#servedFrom[p])),
    )
    this.#generations.sync(store, link.partitions, forced).then(
      (moved) => {
        this.#host.redisAnswered()
        // A generation moved while this instance was not listening (a clear it missed, or Redis
        // lost data): assume the worst, even if the link fell since (no sync sees it again).
        if (moved.length > 0) this.#dataLost(moved)
        if (!current()) return
        this.#setOnline(link)
      },
      (error: unknown) => {
        this.#host.redisFailed('l2.generation', error)
        if (current()) this.#retry(link, () => current() && this.#comeOnline(link))
      },
    )
  }

  /**
   * Redis may have lost the fences of writes still committing: a load that starts before they
   * commit reads the old row, and no fence would refuse it. Such a write commits within
   * `maxWriteTime` of its fence, and the fence came before the loss, so loads that start later
   * than that after this moment are safe; earlier ones install nothing.
   */
  #dataLost(partitions: readonly number[]): void {
    const until = performance.now() + this.#parts.maxWriteTime
    for (const p of partitions) this.#quarantineUntil[p] = until
    this.#parts.counters.dataLosses++
    this.#parts.events.emit('data-loss', {
      generation: Math.max(...partitions.map((p) => this.#generations.of(p))),
      quarantineMs: this.#parts.maxWriteTime,
    })
  }

  #setOnline({ partitions, node }: BusLink): void {
    this.#dropPartitions(partitions)
    this.#drops.flush()
    for (const p of partitions) {
      // A clear heard after the generation was read is still being confirmed; it turns L2 on.
      this.#online[p] = this.#generations.confirmed(p)
      this.#synced[p] = true
      this.#servedFrom[p] = node
    }
    this.#serve()
    this.#waiters.wake()
  }

  /** Drops partitions from L1 and detaches their loads; all of them: a new epoch at once. */
  #dropPartitions(partitions: readonly number[]): void {
    if (partitions.length === 0) return
    if (partitions.length === this.#count) this.dropLocal()
    else this.#drops.drop(partitions)
  }

  /** L1 serves all partitions until the earliest lease end, once every one is online. */
  #serve(): void {
    let until = Number.POSITIVE_INFINITY
    for (let p = 0; p < this.#count && until > 0; p++) {
      const link = this.#link[p]
      until = this.#online[p] && link !== undefined ? Math.min(until, link.leaseUntil) : 0
    }
    this.servingUntil = this.#hasBus && this.#parts.l1Enabled && !this.#closed ? until : 0
  }

  #onLease(link: BusLink): void {
    this.#serve()
    this.#waiters.wake()
    this.#leases.renewed(link)
  }
}
