import type { TieredCache } from '@strata/cache-core'
import type { Database } from './db/client.js'

/** Milliseconds between attempts while PostgreSQL or Redis is away. */
const RETRY_MS = 250

/** Most keys awaiting a second announcement; past it the oldest is forgotten (and logged). */
const MAX_PENDING = 10_000

/**
 * Writes answered 504 OUTCOME_UNKNOWN: their COMMIT was sent and its answer lost. PostgreSQL may
 * still apply it, later than any acknowledged write could commit (a frozen server applies a
 * COMMIT it had received when it resumes) — after the replicas' fences and quarantine for it
 * may be over. So each such key is announced again once the database answers: invalidated at the
 * version the write would have, evicting whatever a replica cached in between. If the write
 * never committed, the fence only keeps the key out of the caches until `fenceTtl` or the next
 * write: more load, never a stale value.
 */
export class UnknownOutcomes {
  readonly #pending = new Map<string, number>()
  readonly #db: Database
  readonly #cache: TieredCache<unknown>
  readonly #onDropped: (key: string) => void
  #timer: NodeJS.Timeout | undefined
  #running = false

  constructor(db: Database, cache: TieredCache<unknown>, onDropped: (key: string) => void) {
    this.#db = db
    this.#cache = cache
    this.#onDropped = onDropped
  }

  /** Keys still to announce again. */
  get size(): number {
    return this.#pending.size
  }

  /** Announces `key` at `version` again once PostgreSQL answers. */
  add(key: string, version: number): void {
    this.#pending.set(key, Math.max(version, this.#pending.get(key) ?? 0))
    if (this.#pending.size > MAX_PENDING) {
      const oldest = this.#pending.keys().next().value as string
      this.#pending.delete(oldest)
      this.#onDropped(oldest)
    }
    this.#timer ??= setInterval(() => void this.#settle(), RETRY_MS).unref()
  }

  /** Stops retrying (shutdown). */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  async #settle(): Promise<void> {
    if (this.#running || !this.#db.available()) return
    this.#running = true
    try {
      // A query that gets through shows PostgreSQL is answering again (a resumed server has
      // then taken the COMMITs it had received).
      await this.#db.track(() => this.#db.sql`SELECT 1`)
      for (const [key, version] of [...this.#pending]) {
        await this.#cache.invalidate(key, version)
        if (this.#pending.get(key) === version) this.#pending.delete(key)
      }
    } catch {
      // PostgreSQL or Redis is still away: the next tick tries again.
    } finally {
      this.#running = false
    }
    if (this.#pending.size === 0) this.stop()
  }
}
