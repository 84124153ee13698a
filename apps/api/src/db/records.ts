import { absent, type Loaded } from '@strata/cache-core'
import type { Database } from './client.js'

/** A record as the API returns it (the version travels beside it, in the cache lookup). */
export interface StoredRecord {
  value: string
  createdAt: string
  updatedAt: string
}

/** A committed or about-to-commit write. */
export interface WriteResult {
  version: number
  createdAt: string
  updatedAt: string
}

/** Runs inside a write transaction, before COMMIT; throwing rolls the write back. */
export type BeforeCommit = (version: number) => Promise<void>

/** Data access for the `records` table. */
export class RecordsRepository {
  readonly #db: Database

  constructor(db: Database) {
    this.#db = db
  }

  /** The cache loader: the row and its version, or `absent(version)` (the version of its deletion). */
  readonly load = (key: string): Promise<Loaded<StoredRecord>> =>
    this.#db.track(async () => {
      const [row] = await this.#db.sql<
        {
          value: string | null
          version: string | null
          created_at: string
          updated_at: string
          deleted: string | null
        }[]
      >`
        SELECT r.value, r.version, r.created_at, r.updated_at, d.version AS deleted
        FROM (SELECT ${key}::text AS key) k
        LEFT JOIN records r USING (key)
        LEFT JOIN deleted_records d USING (key)`
      if (!row || row.value === null || row.version === null)
        return absent(Number(row?.deleted ?? 0))
      return {
        value: { value: row.value, createdAt: row.created_at, updatedAt: row.updated_at },
        version: Number(row.version),
      }
    })

  /**
   * Upserts `key`, growing its version by one, and runs `beforeCommit(version)` inside the
   * transaction: if it throws, nothing is written.
   */
  upsert(key: string, value: string, beforeCommit: BeforeCommit): Promise<WriteResult> {
    return this.#db.track(() =>
      // The statements are sent together (pipelined): a write costs PostgreSQL three round trips,
      // BEGIN, its statements, COMMIT. `begin` fails the write if the connection dies mid-way.
      this.#db.sql.begin(async (tx) => {
        // The lock serialises writes and deletes of one key, so the version read by the INSERT
        // (a statement of its own, with a snapshot taken after the lock) is the latest.
        const [, [row]] = await Promise.all([
          tx`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`,
          tx<{ version: string; created_at: string; updated_at: string }[]>`
            INSERT INTO records (key, value, version)
            VALUES (${key}, ${value},
                    COALESCE((SELECT version FROM deleted_records WHERE key = ${key}), 0) + 1)
            ON CONFLICT (key) DO UPDATE
              SET value = EXCLUDED.value, version = records.version + 1, updated_at = now()
            RETURNING version, created_at, updated_at`,
        ])
        if (!row) throw new Error('upsert returned no row')
        const version = Number(row.version)
        await beforeCommit(version)
        return { version, createdAt: row.created_at, updatedAt: row.updated_at }
      }),
    )
  }

  /**
   * Deletes `key`; the deletion gets the next version, passed to `beforeCommit`.
   * Resolves undefined when there was no such key (nothing changes then).
   */
  delete(key: string, beforeCommit: BeforeCommit): Promise<{ version: number } | undefined> {
    return this.#db.track(() =>
      // The statements are sent together (pipelined): a write costs PostgreSQL three round trips,
      // BEGIN, its statements, COMMIT. `begin` fails the write if the connection dies mid-way.
      this.#db.sql.begin(async (tx) => {
        const [, [row]] = await Promise.all([
          tx`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`,
          tx<{ version: string }[]>`
            WITH gone AS (DELETE FROM records WHERE key = ${key} RETURNING version)
            INSERT INTO deleted_records (key, version) SELECT ${key}, version + 1 FROM gone
            ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, deleted_at = now()
            RETURNING version`,
        ])
        if (!row) return undefined
        const version = Number(row.version)
        await beforeCommit(version)
        return { version }
      }),
    )
  }

  /** Round-trips the database, for health checks. */
  ping(): Promise<void> {
    return this.#db.track(async () => {
      await this.#db.sql`SELECT 1`
    })
  }
}
