import type { L2Record } from '../entry.js'

/**
 * The contract of a shared L2. Keys are user keys; the store owns its namespace.
 * Every method may reject when the backing service is down; the cache treats that as a miss.
 */
export interface L2Store {
  /** The record under `key`; undefined on miss. Never rejects for an absent key. */
  get(key: string): Promise<L2Record | undefined>
  /**
   * Installs a value or a cached miss unless a record with a newer version is already there.
   * Resolves false when it refused (a newer write fenced the key).
   */
  set(key: string, record: L2Record, ttlMs: number): Promise<boolean>
  /** Leaves a fence that refuses every version below `version`, replacing older entries. */
  fence(key: string, version: number, generation: number, ttlMs: number): Promise<void>
  /** The current namespace generation; entries written under an older one are misses. */
  readGeneration(): Promise<number>
  /** Starts a new generation, which empties L2 for every reader without scanning Redis. */
  bumpGeneration(): Promise<number>
}
