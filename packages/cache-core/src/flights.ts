import { dropFillLease } from './fill-lease.js'
import type { FillParts, Flight } from './install.js'
import { readL2 } from './l2-read.js'
import { load } from './load.js'
import type { Lookup } from './lookup.js'

/**
 * Single flight: concurrent misses of a key on this instance share one fill (L2, then the
 * loader), as long as joining it is safe; an invalidation or a local clear detaches it.
 */
export class Flights<T> {
  readonly #parts: FillParts<T>
  readonly #flights = new Map<string, Flight<T>>()

  constructor(parts: FillParts<T>) {
    this.#parts = parts
  }

  /** A read that missed L1: joins the key's flight when it may, else starts one. */
  read(key: string): Promise<Lookup<T>> {
    const flight = this.#flights.get(key)
    return flight !== undefined && this.#joinable(flight)
      ? this.#join(key, flight)
      : this.#start(key)
  }

  /**
   * A write of `key` at `version` was announced: its flight (which may have read the older row)
   * installs nothing below `version`, and readers from now on start a fresh load instead of
   * joining one that predates the write.
   */
  detach(key: string, version: number): void {
    const flight = this.#flights.get(key)
    if (!flight) return
    flight.fence = Math.max(flight.fence, version)
    flight.detached = true
    this.#flights.delete(key)
  }

  /** Detaches the flights of keys in these partitions. */
  detachPartitions(partitions: ReadonlySet<number>): void {
    for (const [key, flight] of this.#flights) {
      if (!partitions.has(flight.partition)) continue
      flight.detached = true
      this.#flights.delete(key)
    }
  }

  /** Detaches every flight: none installs anything. */
  detachAll(): void {
    for (const flight of this.#flights.values()) flight.detached = true
    this.#flights.clear()
  }

  /**
   * A read may join a load in flight only while the lease holds (a load that began before the
   * lease ran out may predate a write whose invalidation is still held up) and while the load is
   * younger than `maxLoadTime` (its fence may have expired). Otherwise it starts its own.
   */
  #joinable(flight: Flight<T>): boolean {
    const now = performance.now()
    return (
      now - flight.startedAt <= this.#parts.options.maxLoadTime &&
      this.#parts.coherence.leaseHeld(flight.partition, now)
    )
  }

  #start(key: string): Promise<Lookup<T>> {
    const replaced = this.#flights.get(key)
    // A load this one replaces (not joinable any more) installs nothing either.
    if (replaced) replaced.detached = true
    const partition = this.#parts.partitioning.of(key)
    const flight: Flight<T> = {
      promise: undefined as unknown as Promise<Lookup<T>>,
      fence: this.#parts.fences.get(key) ?? 0,
      partition,
      epoch: this.#parts.coherence.epoch,
      generation: this.#parts.coherence.generations.of(partition),
      startedAt: performance.now(),
      detached: false,
      lease: undefined,
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
    const known = this.#parts.fences.get(key)
    if (known === undefined) return flight.promise
    return flight.promise.then((lookup) => {
      if (lookup.version >= known) return lookup
      this.#parts.counters.joinRetries++
      return this.#flights.get(key)?.promise ?? this.#start(key)
    })
  }

  async #fill(key: string, flight: Flight<T>): Promise<Lookup<T>> {
    const cached = await readL2(this.#parts, key, flight)
    if (cached !== undefined) return cached
    try {
      return await load(this.#parts, key, flight)
    } finally {
      // Filled or not, the lease is spent: waiters find the fill, or load at once. Kept, it
      // would hold up the readers of that version once the fill expires (a cached miss does in
      // `negativeTtl`, sooner than the lease would).
      dropFillLease(this.#parts, key, flight)
    }
  }
}
