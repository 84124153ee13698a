import postgres from 'postgres'

/** The PostgreSQL pool plus a count of queries in flight, for the pool-in-use metric. */
export interface Database {
  sql: postgres.Sql
  /** Queries currently holding a connection (≤ pool size). */
  inUse(): number
  /** Runs `work` while counting it as holding a connection. */
  track<T>(work: () => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** Opens a lazily-connecting pool of at most `max` connections. */
export function createDatabase(url: string, max: number): Database {
  const sql = postgres(url, {
    max,
    // Idle connections are closed after a while so a quiet replica holds few.
    idle_timeout: 30,
    connect_timeout: 5,
    onnotice: () => {},
    // Timestamps are passed through as ISO strings; the API returns them verbatim.
    types: {
      timestamptz: {
        to: 1184,
        from: [1184],
        serialize: (value: string) => value,
        parse: (value: string) => new Date(value).toISOString(),
      },
    },
  })
  let inFlight = 0
  return {
    sql,
    inUse: () => Math.min(inFlight, max),
    async track(work) {
      inFlight++
      try {
        return await work()
      } finally {
        inFlight--
      }
    },
    close: () => sql.end({ timeout: 5 }),
  }
}
