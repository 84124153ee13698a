import type { Database } from './client.js'

/** A key's current version in PostgreSQL, when it was written, and PostgreSQL's clock. */
export interface CurrentVersion {
  version: number
  /** When that version committed (else its transaction began), in epoch ms; null if never written. */
  changedAt: number | null
  /** PostgreSQL's `now()` when it ran the query, in epoch ms. */
  dbNow: number
}

/**
 * Reads the current version of each key in one query (the consistency checks' re-read): the row's
 * version, else its deletion's, else 0 (a key never written), as the cache's loader counts them.
 *
 * When that version was written: its transaction's COMMIT time when PostgreSQL tracks them
 * (`track_commit_timestamp = on`: the commit timestamp of the row's `xmin`); otherwise, or for a
 * transaction older than the tracking, `updated_at` / `deleted_at`, which `now()` set at the
 * transaction's start, earlier than its COMMIT by the whole write.
 */
export function currentVersions(
  db: Database,
  keys: readonly string[],
): Promise<Map<string, CurrentVersion>> {
  return db.track(async () => {
    const rows = await db.sql<
      { key: string; version: string; changed_at: number | null; db_now: number }[]
    >`
      SELECT k.key,
             COALESCE(r.version, d.version, 0) AS version,
             extract(epoch FROM CASE
               WHEN r.version IS NOT NULL THEN
                 COALESCE(CASE WHEN t.tracked THEN pg_xact_commit_timestamp(r.xmin) END, r.updated_at)
               ELSE
                 COALESCE(CASE WHEN t.tracked THEN pg_xact_commit_timestamp(d.xmin) END, d.deleted_at)
             END)::float8 * 1000 AS changed_at,
             extract(epoch FROM now())::float8 * 1000 AS db_now
      FROM unnest(${keys as string[]}::text[]) AS k(key)
      CROSS JOIN (SELECT current_setting('track_commit_timestamp') = 'on' AS tracked) t
      LEFT JOIN records r USING (key)
      LEFT JOIN deleted_records d USING (key)`
    return new Map(
      rows.map((row) => [
        row.key,
        {
          version: Number(row.version),
          changedAt: row.changed_at === null ? null : Number(row.changed_at),
          dbNow: Number(row.db_now),
        },
      ]),
    )
  })
}
