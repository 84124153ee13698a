import postgres from 'postgres'

/**
 * Each key's version as PostgreSQL holds it now, read directly (never through the API or a
 * cache): the live row's version, or for a deleted key the version of its deletion. Keys with
 * neither are absent from the map (version 0 to the checker).
 *
 * @example const finalVersions = await readVersions(cluster.backends.databaseUrl)
 */
export async function readVersions(
  databaseUrl: string,
  keys?: readonly string[],
): Promise<Map<string, number>> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    const filter = keys ? sql`WHERE key = ANY(${keys as string[]})` : sql``
    const rows = await sql<{ key: string; version: string }[]>`
      SELECT key, GREATEST(r.version, d.version) AS version
      FROM records r FULL OUTER JOIN deleted_records d USING (key)
      ${filter}`
    return new Map(rows.map((row) => [row.key, Number(row.version)]))
  } finally {
    await sql.end({ timeout: 5 })
  }
}
