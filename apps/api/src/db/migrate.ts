import type postgres from 'postgres'

// Any fixed 64-bit number; it names "the Strata schema migration" among advisory locks.
const MIGRATION_LOCK = 0x5752_4154_41 // "STRATA"

/**
 * Creates the schema if it is missing. Idempotent, and safe when several replicas start at once:
 * the advisory lock makes them take turns, so only the first one does any work.
 */
export async function migrate(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`
    await tx`
      CREATE TABLE IF NOT EXISTS records (
        key        text PRIMARY KEY,
        value      text NOT NULL,
        version    bigint NOT NULL CHECK (version > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`
    // Deleting a row keeps its last version here, so a key written again continues from it:
    // versions only ever grow, which is what cache fences rely on.
    await tx`
      CREATE TABLE IF NOT EXISTS deleted_records (
        key        text PRIMARY KEY,
        version    bigint NOT NULL,
        deleted_at timestamptz NOT NULL DEFAULT now()
      )`
  })
}
