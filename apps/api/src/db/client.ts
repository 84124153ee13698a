import postgres from 'postgres'
import { DatabaseTimeoutError, deadlineSocket } from './deadline-socket.js'

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
  /**
   * Runs `work` in a transaction (tracked like {@link Database.track}) and commits it. Rejects
   * with {@link CommitOutcomeUnknownError} when the connection fails after COMMIT was sent, and
   * with the failure itself when it came before: then nothing was committed, and nothing ever
   * will be (a connection that failed is never written to again).
   */
  transaction<T>(work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/**
 * A transaction's COMMIT was sent and its answer never came (the connection failed or timed
 * out): it may or may not have committed. Retrying blindly may apply the write twice.
 */
export class CommitOutcomeUnknownError extends Error {
  static readonly code = 'E_COMMIT_OUTCOME_UNKNOWN'
  readonly code = CommitOutcomeUnknownError.code

  constructor(cause: unknown) {
    super('The connection failed after COMMIT was sent; the transaction may have committed', {
      cause,
    })
    this.name = 'CommitOutcomeUnknownError'
  }
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
  DatabaseTimeoutError.code,
  // admin_shutdown, crash_shutdown, cannot_connect_now (shutting down or starting up)
  '57P01',
  '57P02',
  '57P03',
])

const isUnreachable = (error: unknown) =>
  UNREACHABLE.has(String((error as { code?: unknown } | undefined)?.code))

/**
 * An answer from PostgreSQL that ends the statement and leaves the session alive (severity
 * ERROR): a COMMIT answered that way did not commit. A FATAL (shutdown, terminated backend) may
 * arrive after the commit was made durable, so it proves nothing.
 */
const isStatementError = (error: unknown) =>
  error instanceof Error &&
  error.name === 'PostgresError' &&
  (error as { severity?: unknown }).severity === 'ERROR'

/** A promise that never settles: what abandoned transaction work returns (see `transaction`). */
const never = () => new Promise<never>(() => {})

/** Milliseconds between probe queries while PostgreSQL is unavailable. */
const PROBE_INTERVAL_MS = 100

/** Options of {@link createDatabase}. */
export interface DatabaseOptions {
  /** Most connections open at once. */
  max: number
  /**
   * The most one round trip to PostgreSQL may take, in milliseconds (`DB_QUERY_TIMEOUT`): a
   * connection that does not answer in time is destroyed, its queries fail with
   * {@link DatabaseTimeoutError}, and the database counts as unavailable. PostgreSQL's own
   * `statement_timeout` is set to the same value. It bounds what a load or a write can spend in
   * the database: a write transaction spends at most three round trips there (BEGIN, its
   * statements, COMMIT), a load one (plus connecting, under the same deadline).
   * @default 2000
   */
  queryTimeoutMs?: number
}

/**
 * Opens a lazily-connecting pool of at most `max` connections.
 *
 * After a connection failure the pool refuses work at once (the API answers 503) instead of
 * queueing it: postgres.js keeps queries waiting, without a deadline, until a connection
 * comes back, and its reconnect backoff grows to 20 s, so during and after an outage requests
 * would pile up for that long. A probe query every 100 ms, and a reconnect delay of 100 ms,
 * bring the pool back as soon as PostgreSQL answers.
 *
 * Every round trip has a deadline ({@link DatabaseOptions.queryTimeoutMs}): a PostgreSQL that
 * is frozen rather than down (SIGSTOP, a stalled disk, a silent partition) accepts connections
 * and bytes but never answers, and without a deadline every request would wait for it.
 */
export function createDatabase(url: string, options: DatabaseOptions): Database {
  const { max, queryTimeoutMs = 2_000 } = options
  const sql = postgres(url, {
    max,
    // Idle connections are closed after a while so a quiet replica holds few.
    idle_timeout: 30,
    // Covers the TCP connect; the startup exchange after it is under the socket's deadline.
    connect_timeout: queryTimeoutMs / 1000,
    // Not in postgres.js's types, but documented: it opens the connections through this.
    ...({ socket: deadlineSocket(queryTimeoutMs) } as object),
    // The server cancels a statement that runs too long itself, keeping the connection; the
    // client-side deadline is for a server that cannot answer at all.
    connection: { statement_timeout: Math.round(queryTimeoutMs) },
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
    async transaction<T>(work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
      // postgres.js's begin() sends its own COMMIT after the callback returns, as a prepared
      // statement, and does not say whether it was sent. So the callback sends the COMMIT itself
      // as its last statement: its answer says whether the transaction committed, whatever
      // happens to begin()'s. It is `COMMIT AND CHAIN`, which opens an empty transaction for
      // begin()'s COMMIT to close (pipelined, in the same round trip): a plain COMMIT would make
      // that one a "no transaction in progress" warning in PostgreSQL's log on every write. On
      // the wire it is the same simple query every time, which fault injection can find.
      let commit: Promise<unknown> | undefined
      let result: { value: T } | undefined
      // Set when begin() failed while the callback may still be running (the connection closed
      // under it): the callback must then send nothing more, not even a ROLLBACK, because
      // postgres.js may already have given the same connection object a new session.
      let abandoned = false
      try {
        const value = await this.track(
          () =>
            // begin()'s type unwraps arrays of promises in the result; `work` returns none.
            sql.begin(async (tx) => {
              const value = await work(tx).catch((error: unknown) => {
                if (abandoned) return never()
                throw error
              })
              if (abandoned) return never()
              result = { value }
              commit = tx.unsafe('COMMIT AND CHAIN')
              // Awaited below; a rejection here must not count as unhandled in the meantime.
              commit.catch(() => {})
              return value
            }) as Promise<T>,
        )
        // begin() resolves even when that COMMIT failed with an error (a deferred constraint):
        // its own COMMIT then closes an aborted transaction, which PostgreSQL answers with
        // ROLLBACK, not an error. Only COMMIT AND CHAIN's answer says whether it committed.
        await commit
        return value
      } catch (error) {
        abandoned = true
        if (!commit || !result) throw error
        const outcome = await commit.then(
          () => 'committed' as const,
          (failure: unknown) => failure,
        )
        if (outcome === 'committed') return result.value
        if (isStatementError(outcome)) throw outcome
        throw new CommitOutcomeUnknownError(outcome)
      }
    },
    close: () => {
      closed = true
      return sql.end({ timeout: 5 })
    },
  }
}
