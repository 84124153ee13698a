import { LRUCache } from 'lru-cache'

/** Options of the L1 store. */
export interface MemoryStoreOptions {
  maxEntries: number
  /** Most misses held, apart from the values. */
  maxMisses: number
  maxBytes: number | undefined
  /** Milliseconds; each `set` may shorten it. */
  ttl: number
}

/**
 * L1: two bounded, in-process LRUs of frozen entries (the cache stores its lookups), one for
 * values and one for cached misses, so that reads of unknown keys never push values out. A hit
 * hands back the stored object itself, so the hit path allocates nothing.
 */
export class MemoryStore<V extends object> {
  readonly #values: LRUCache<string, V>
  readonly #misses: LRUCache<string, V>
  readonly #sized: boolean
  readonly maxEntries: number

  constructor(options: MemoryStoreOptions) {
    this.maxEntries = options.maxEntries
    this.#sized = options.maxBytes !== undefined
    const common = {
      ttl: options.ttl,
      // Read the clock through Date at call time, so fake timers in tests drive expiry.
      perf: { now: () => Date.now() },
      // Read the clock at most once per millisecond: it costs the hit path more than the lookup
      // itself, and an entry outliving its TTL by under 1 ms is no loss.
      ttlResolution: 1,
    }
    this.#values = new LRUCache<string, V>({
      ...common,
      max: options.maxEntries,
      ...(options.maxBytes === undefined ? {} : { maxSize: options.maxBytes }),
    })
    this.#misses = new LRUCache<string, V>({ ...common, max: options.maxMisses })
  }

  /** The entry; undefined on miss or expiry. */
  get(key: string): V | undefined {
    return this.#values.get(key) ?? this.#misses.get(key)
  }

  /** Inserts a value for `ttl` ms; `bytes` counts against `maxBytes` when that is set. */
  set(key: string, entry: V, ttl: number, bytes: number): void {
    this.#misses.delete(key)
    this.#values.set(key, entry, this.#sized ? { ttl, size: Math.max(1, bytes) } : { ttl })
  }

  /** Inserts a cached miss for `ttl` ms, in the misses' own LRU. */
  setMiss(key: string, entry: V, ttl: number): void {
    this.#values.delete(key)
    this.#misses.set(key, entry, { ttl })
  }

  delete(key: string): void {
    this.#values.delete(key)
    this.#misses.delete(key)
  }

  /** Deletes every entry whose key `doomed` picks: one pass over L1. */
  deleteWhere(doomed: (key: string) => boolean): void {
    for (const lru of [this.#values, this.#misses]) {
      const keys = [...lru.keys()].filter(doomed)
      for (const key of keys) lru.delete(key)
    }
  }

  clear(): void {
    this.#values.clear()
    this.#misses.clear()
  }

  /** Entries held: values and misses. */
  get size(): number {
    return this.#values.size + this.#misses.size
  }

  /** Bytes held, as counted against `maxBytes` (0 when unbounded by bytes). */
  get bytes(): number {
    return this.#values.calculatedSize ?? 0
  }
}
