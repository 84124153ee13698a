import postgres from 'postgres'
import type { Dataset } from './scenario.js'

/**
 * Creates the data set's rows with one `INSERT … SELECT generate_series` statement: 100k rows
 * take well under a second, 1M a few seconds. Rows that exist are left alone (`ON CONFLICT DO
 * NOTHING`): changing a row behind the cache's back would make cached copies stale. A key that
 * was deleted before continues from its deletion's version, as the API's own upsert does, so
 * versions only grow. Needs the `records` table, which every replica creates when it starts.
 */
export async function seedDataset(
  databaseUrl: string,
  dataset: Dataset,
): Promise<{ inserted: number; seconds: number }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  const started = performance.now()
  try {
    const [table] = await sql<{ ok: boolean }[]>`SELECT to_regclass('records') IS NOT NULL AS ok`
    if (!table?.ok) {
      throw new Error(
        'the database has no `records` table: start the stack first (its replicas create the schema)',
      )
    }
    const result = await sql`
      INSERT INTO records (key, value, version)
      SELECT ${dataset.prefix} || i,
             rpad('seed:' || i || ':', ${dataset.valueBytes}, 'x'),
             COALESCE(d.version, 0) + 1
      FROM generate_series(0, ${dataset.keys - 1}::int) AS i
      LEFT JOIN deleted_records d ON d.key = ${dataset.prefix} || i
      ON CONFLICT (key) DO NOTHING`
    if (result.count > 0) {
      // Settle what a bulk insert leaves to background workers (autovacuum, the next checkpoint
      // flushing ~15 MB of dirty pages per 100k rows) now, not in the middle of the measurement.
      await sql`VACUUM ANALYZE records`
      // CHECKPOINT needs a superuser (the stack's own PostgreSQL has one); elsewhere skip it.
      await sql`CHECKPOINT`.catch(() => {})
    }
    return { inserted: result.count, seconds: (performance.now() - started) / 1000 }
  } finally {
    await sql.end({ timeout: 5 })
  }
}
