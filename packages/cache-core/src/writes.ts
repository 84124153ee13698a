import { LRUCache } from 'lru-cache'
import { stampedPayload } from './bus/redis-bus.js'
import { REDIS_NOT_ANSWERING } from './errors.js'
import { type FillParts, rejectStale } from './install.js'
import type { Loaded } from './lookup.js'
import type { L2Record } from './stores/l2-record.js'
import type { L2Store, WriterLease } from './stores/l2-store.js'
import type { LeftFence, Unfences } from './unfences.js'

/** A write announced with its fill lease and not yet committed: what its fill needs. */
interface Announced {
  version: number
  generation: number
  /** Its fence's nonce, which is also its lease's token. */
  nonce: string
  /** Whether its fence took the key's fill lease (not with `l2.fillLeaseWait` 0). */
  leased: boolean
}

/** What the write half of the cache needs beyond what loads share. */
export interface WriteParts {
  readonly store: L2Store
  readonly origin: string
  readonly unfences: Unfences
  /** Whether Redis looks reachable now, to take back a refused write's fence at once. */
  reachable(): boolean
}

/**
 * The Redis half of a write: its fence, published with its invalidation in one script (taking
 * the key's fill lease for it when this instance reads L2), the fence taken back when the write
 * is refused, and the writer's fill of L2 once it has committed.
 */
export class Writes<T> {
  readonly #parts: FillParts<T>
  readonly #write: WriteParts
  /** Names each write's fence: this instance's random digits, then a count (no getpid per write). */
  readonly #nonceBase: string
  #nonces = 0
  /** Writes that will fill, until they commit or fail (bounded; expiring): their fence's generation and lease. */
  readonly #announced: LRUCache<string, Announced>

  constructor(parts: FillParts<T>, write: WriteParts, nonceBase: string) {
    this.#parts = parts
    this.#write = write
    this.#nonceBase = nonceBase
    this.#announced = new LRUCache({ max: parts.options.maxLocalFences, ttl: this.#leaseTtl })
  }

  /**
   * The writer's lease lasts no longer than a write may take from its fence to its commit: a
   * writer that dies in between holds readers up for at most that long, each at most
   * `l2.fillLeaseWait` once.
   */
  get #leaseTtl(): number {
    return this.#parts.options.maxWriteTime
  }

  /** Whether this instance's writes fill L2 after commit: only where replicas read L2. */
  get #fills(): boolean {
    return this.#parts.l2Reads
  }

  /**
   * Fences `key` at `version` in L2 and publishes its invalidation (one command); the caller
   * raised the local fence from `previous`. Throws when Redis does not take it, after taking the
   * fences back. With `willFill` (the writer fills L2 after its commit) the fence takes the
   * key's fill lease too.
   */
  async fence(
    key: string,
    version: number,
    previous: number | undefined,
    willFill: boolean,
  ): Promise<void> {
    const { partitioning, coherence, options, breaker } = this.#parts
    const partition = partitioning.of(key)
    const generation = coherence.generations.of(partition)
    // Names this write's fence, so that taking it back can never remove another write's.
    const nonce = this.#nonceBase + (++this.#nonces).toString(36)
    const leased = willFill && this.#fills && options.l2.fillLeaseWait > 0
    const lease: WriterLease | undefined = leased
      ? { token: nonce, ttlMs: this.#leaseTtl }
      : undefined
    try {
      // Redis stopped answering: refuse now rather than after a timeout.
      if (breaker?.open) throw REDIS_NOT_ANSWERING
      const traceparent = options.traceparent?.()
      const message = {
        v: 1,
        type: 'invalidate',
        key,
        version,
        origin: this.#write.origin,
        // Only when traced: without it the message is byte for byte what it was.
        ...(traceparent === undefined ? {} : { traceparent }),
      } as const
      const announce = {
        channel: partitioning.channel(partition),
        payload: stampedPayload(message),
        sharded: partitioning.sharded,
      }
      await this.#write.store.fence(
        key,
        version,
        generation,
        nonce,
        options.fenceTtl,
        announce,
        lease,
      )
    } catch (error) {
      if (error !== REDIS_NOT_ANSWERING) breaker?.failed(error)
      this.#restoreFence(key, version, previous, { version, generation, nonce })
      // A refused write never fills: its lease (if the fence went up) must not hold readers.
      if (lease) this.#dropLease(key, nonce)
      throw error
    }
    if (willFill && this.#fills)
      this.#announced.set(key, { version, generation, nonce, leased: lease !== undefined })
  }

  /**
   * The write of `key` at `loaded.version` committed: installs the committed record in L2
   * through set.lua (a newer write's fence refuses it), under the generation and deadline rules
   * a load's set follows. Never rejects: a failed fill is degraded around and counted.
   */
  async fill(key: string, loaded: NonNullable<Loaded<T>>): Promise<void> {
    // No lease was taken either: nobody would read the fill (see `#fills`).
    if (!this.#fills) return
    try {
      await this.#fill(key, loaded)
    } catch (error) {
      // The serializer threw: the write stands, unfilled (readers load after the lease).
      this.#parts.degraded('l2.write-fill', error)
    }
  }

  async #fill(key: string, loaded: NonNullable<Loaded<T>>): Promise<void> {
    const parts = this.#parts
    const { options, coherence, partitioning } = parts
    const { version } = loaded
    const announced = this.#announced.get(key)
    // Without its announcement the fill would not know its fence's generation: a clear between
    // the fence and now would let it install the old row under the new generation. No fill then.
    if (announced?.version !== version) return
    this.#announced.delete(key)
    const mine = announced
    const partition = partitioning.of(key)
    const isAbsent = 'absent' in loaded
    const payload = isAbsent ? '' : options.serializer.serialize(loaded.value)
    const skip =
      parts.breaker?.open ||
      !coherence.online(partition) ||
      // Redis may have lost the fence of a newer write still committing (see `maxWriteTime`).
      performance.now() < coherence.quarantineUntil(partition) ||
      (parts.fences.get(key) ?? 0) > version ||
      Buffer.byteLength(payload) > options.l2.maxEntryBytes
    if (skip) {
      if (mine.leased) this.#dropLease(key, mine.nonce)
      return
    }
    const ttl = isAbsent ? options.negativeTtl : options.l2.ttl
    const expiresAt = Date.now() + ttl
    // The generation of the fence: a clear since then leaves the fill unserved.
    const { generation } = mine
    const record: L2Record = isAbsent
      ? { kind: 'absent', version, expiresAt, generation }
      : { kind: 'value', version, expiresAt, generation, payload }
    // The set drops the writer's lease in the same script, landed or refused: readers that come
    // after it find the fill, or take the lease and load, and never wait on a spent lease.
    const lease = mine.leased ? mine.nonce : undefined
    parts.counters.writeFills++
    try {
      // As a load's: past the deadline on Redis's clock, the fence refusing it may be gone.
      const deadline = Date.now() + options.maxLoadTime
      if (await this.#write.store.set(key, record, ttl, deadline, lease)) return
      rejectStale(parts, key, version, parts.fences.get(key) ?? version, 'L2')
    } catch (error) {
      parts.degraded('l2.write-fill', error)
      if (lease !== undefined) this.#dropLease(key, lease)
    }
  }

  /** The write of `key` at `version` did not commit (or may not have): drop its lease. */
  uncommitted(key: string, version: number): void {
    const announced = this.#announced.get(key)
    if (announced?.version !== version) return
    this.#announced.delete(key)
    if (announced.leased) this.#dropLease(key, announced.nonce)
  }

  #dropLease(key: string, token: string): void {
    this.#write.store.dropFillLease?.(key, token).catch((error: unknown) => {
      this.#parts.degraded('l2.fill-lease', error)
    })
  }

  /**
   * A write was refused after its fences went up: take them back, or the key would stay
   * uncacheable for `fenceTtl` with nothing newer to serve. Locally at once (the write still
   * holds its key's lock, so no other write of the key can have raised it since); in Redis only
   * the fence this write left, once Redis answers.
   */
  #restoreFence(key: string, version: number, previous: number | undefined, fence: LeftFence) {
    const { fences, counters } = this.#parts
    if (fences.get(key) === version) {
      if (previous === undefined) fences.delete(key)
      else fences.set(key, previous)
      counters.fencesRestored++
    }
    const reachable = !this.#parts.breaker?.open && this.#write.reachable()
    this.#write.unfences.add(key, fence, reachable)
  }
}
