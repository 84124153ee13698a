/** The tier that answered a read. `DB` means the loader ran. */
export type CacheLevel = 'L1' | 'L2' | 'DB'

/** A read that found a record. */
export interface Found<T> {
  readonly found: true
  readonly value: T
  /** The record's version, as the loader reported it. */
  readonly version: number
  readonly level: CacheLevel
}

/** A read that found no record. Misses are cached briefly too (negative caching). */
export interface Missing {
  readonly found: false
  readonly value: undefined
  /** The version at which the key was known to be absent (0 when it never existed). */
  readonly version: number
  readonly level: CacheLevel
}

/** What `get()` resolves: a record or a miss, and the tier that answered. */
export type Lookup<T> = Found<T> | Missing

/** Lookups are frozen: one instance may be handed to many callers, and kept in L1. */
export const found = <T>(value: T, version: number, level: CacheLevel): Lookup<T> =>
  Object.freeze({ found: true as const, value, version, level })

export const missing = (version: number, level: CacheLevel): Lookup<never> =>
  Object.freeze({ found: false as const, value: undefined, version, level })

/** What a loader returns for a key that has no record. */
export interface Absent {
  readonly absent: true
  readonly version: number
}

/** What a loader returns: the record with its version, `absent(version)`, or `undefined` (absent at version 0). */
export type Loaded<T> = { readonly value: T; readonly version: number } | Absent | undefined

/** Marks a key as having no record, at the version of its deletion (0 when it never existed). */
export const absent = (version = 0): Absent => ({ absent: true, version })

/** Reads the source of truth for a key. It must report the version of what it read. */
export type Loader<T> = (key: string) => Promise<Loaded<T>>
