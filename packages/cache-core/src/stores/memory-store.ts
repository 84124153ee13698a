import { LRUCache } from 'lru-cache'

/** Options of the L1 store. */
export interface MemoryStoreOptions {
  maxEntries: number
  maxBytes: number | undefined
  /** Milliseconds; each `set` may shorten it. */
  ttl: number
}

/**
 * L1: a bounded, in-process LRU of frozen entries (the cache stores its lookups). A hit hands back
 * the stored object itself, so the hit path allocates nothing.
 */
export class MemoryStore<V extends object> {
  readonly #lru: LRUCache<string, V>
  readonly #sized: boolean
  readonly maxEntries: number

  constructor(options: MemoryStoreOptions) {
    this.maxEntries = options.maxEntries
    this.#sized = options.maxBytes !== undefined
    this.#lru = new LRUCache<string, V>({
      max: options.maxEntries,
      ttl: options.ttl,
      ...(options.maxBytes === undefined ? {} : { maxSize: options.maxBytes }),
      // Read the clock through Date at call time, so fake timers in tests drive expiry.
      perf: { now: () => Date.now() },
      // Read the clock at most once per millisecond: it costs the hit path more than the lookup
      // itself, and an entry outliving its TTL by under 1 ms is no loss.
      ttlResolution: 1,
    })
  }

  /** The entry; undefined on miss or expiry. */
  get(key: string): V | undefined {
    return this.#lru.get(key)
  }

  /** Inserts an entry for `ttl` ms; `bytes` counts against `maxBytes` when that is set. */
  set(key: string, entry: V, ttl: number, bytes: number): void {
    this.#lru.set(key, entry, this.#sized ? { ttl, size: Math.max(1, bytes) } : { ttl })
  }

  delete(key: string): void {
    this.#lru.delete(key)
  }

  clear(): void {
    this.#lru.clear()
  }

  get size(): number {
    return this.#lru.size
  }

  /** Bytes held, as counted against `maxBytes` (0 when unbounded by bytes). */
  get bytes(): number {
    return this.#lru.calculatedSize ?? 0
  }
}
