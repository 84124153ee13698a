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

/** A conditional write found another version than the one it expected; nothing was written. */
export class VersionConflictError extends Error {
  static readonly code = 'E_VERSION_CONFLICT'
  readonly code = VersionConflictError.code

  constructor(
    readonly key: string,
    readonly expected: number,
    readonly current: number,
  ) {
    super(
      `Key ${JSON.stringify(key)} is at version ${current}, not ${expected}; nothing was written`,
    )
    this.name = 'VersionConflictError'
  }
}

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
   *
   * With `expectedVersion`, writes only if the key's current version is that one, and otherwise
   * throws {@link VersionConflictError}. The current version is the row's; for a deleted key,
   * the version of its deletion; for a key never written, 0.
   */
  upsert(
    key: string,
    value: string,
    beforeCommit: BeforeCommit,
    expectedVersion?: number,
  ): Promise<WriteResult> {
    return this.#db.transaction(async (tx) => {
      // The statements are sent together (pipelined): a write costs PostgreSQL three round trips,
      // BEGIN, its statements, COMMIT.
      // The lock serialises writes and deletes of one key, so the version read by the INSERT
      // (a statement of its own, with a snapshot taken after the lock) is the latest.
      const [, [row]] = await Promise.all([
        tx`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`,
        tx<
          {
            version: string | null
            created_at: string | null
            updated_at: string | null
            current_version: string
          }[]
        >`
          WITH cur AS (
            SELECT COALESCE((SELECT version FROM records WHERE key = ${key}),
                            (SELECT version FROM deleted_records WHERE key = ${key}),
                            0) AS version
          ), written AS (
            INSERT INTO records (key, value, version)
            SELECT ${key}, ${value}, cur.version + 1 FROM cur
            WHERE ${expectedVersion ?? null}::bigint IS NULL
               OR cur.version = ${expectedVersion ?? null}::bigint
            ON CONFLICT (key) DO UPDATE
              SET value = EXCLUDED.value, version = records.version + 1, updated_at = now()
            RETURNING version, created_at, updated_at
          )
          SELECT w.version, w.created_at, w.updated_at, c.version AS current_version
          FROM cur c LEFT JOIN written w ON true`,
      ])
      if (!row) throw new Error('upsert returned no row')
      if (row.version === null || row.created_at === null || row.updated_at === null) {
        throw new VersionConflictError(key, expectedVersion ?? 0, Number(row.current_version))
      }
      const version = Number(row.version)
      await beforeCommit(version)
      return { version, createdAt: row.created_at, updatedAt: row.updated_at }
    })
  }

  /**
   * Deletes `key`; the deletion gets the next version, passed to `beforeCommit`.
   * Resolves undefined when there was no such key (nothing changes then).
   */
  delete(key: string, beforeCommit: BeforeCommit): Promise<{ version: number } | undefined> {
    // Pipelined like `upsert`.
    return this.#db.transaction(async (tx) => {
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
    })
  }

  /** Round-trips the database, for health checks. */
  ping(): Promise<void> {
    return this.#db.track(async () => {
      await this.#db.sql`SELECT 1`
    })
  }
}
