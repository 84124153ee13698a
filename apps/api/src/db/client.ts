import postgres from 'postgres'

/** The PostgreSQL pool plus a count of queries in flight, for the pool-in-use metric. */
export interface Database {
  sql: postgres.Sql
  /** Queries currently holding a connection (≤ pool size). */
  inUse(): number
  /** False from a connection failure until a probe query gets through again. */
  available(): boolean
  /**
   * Runs `work` while counting it as holding a connection. While PostgreSQL is unavailable it
   * rejects at once with `DatabaseUnavailableError` instead of queueing `work`.
   */
  track<T>(work: () => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** PostgreSQL is known to be unreachable: the work was refused without being started. */
export class DatabaseUnavailableError extends Error {
  static readonly code = 'E_DATABASE_UNAVAILABLE'
  readonly code = DatabaseUnavailableError.code

  constructor() {
    super('PostgreSQL is unavailable; refused until a probe query gets through')
    this.name = 'DatabaseUnavailableError'
  }
}

/** Failures that mean PostgreSQL is unreachable, shutting down or starting up. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // admin_shutdown, crash_shutdown, cannot_connect_now (shutting down or starting up)
  '57P01',
  '57P02',
  '57P03',
])

const isUnreachable = (error: unknown) =>
  UNREACHABLE.has(String((error as { code?: unknown } | undefined)?.code))

/** Milliseconds between probe queries while PostgreSQL is unavailable. */
const PROBE_INTERVAL_MS = 100

/**
 * Opens a lazily-connecting pool of at most `max` connections.
 *
 * After a connection failure the pool refuses work at once (the API answers 503) instead of
 * queueing it: postgres.js keeps queries waiting, without a deadline, until a connection
 * comes back, and its reconnect backoff grows to 20 s, so during and after an outage requests
 * would pile up for that long. A probe query every 100 ms, and a reconnect delay of 100 ms,
 * bring the pool back as soon as PostgreSQL answers.
 */
export function createDatabase(url: string, max: number): Database {
  const sql = postgres(url, {
    max,
    // Idle connections are closed after a while so a quiet replica holds few.
    idle_timeout: 30,
    connect_timeout: 5,
    // Seconds between reconnection attempts, instead of an exponential backoff up to 20 s.
    backoff: () => PROBE_INTERVAL_MS / 1000,
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
  let available = true
  let closed = false
  const probe = () => {
    if (closed) return
    sql`SELECT 1`.then(
      () => {
        available = true
      },
      () => setTimeout(probe, PROBE_INTERVAL_MS).unref(),
    )
  }
  return {
    sql,
    inUse: () => Math.min(inFlight, max),
    available: () => available,
    async track(work) {
      if (!available) throw new DatabaseUnavailableError()
      inFlight++
      try {
        return await work()
      } catch (error) {
        if (available && isUnreachable(error)) {
          available = false
          probe()
        }
        throw error
      } finally {
        inFlight--
      }
    },
    close: () => {
      closed = true
      return sql.end({ timeout: 5 })
    },
  }
}
