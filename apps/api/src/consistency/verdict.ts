/** A sampled read: the version it served and when the read began, on this process's monotonic clock. */
export interface ServedRead {
  version: number
  /** `performance.now()` when the read began, in milliseconds. */
  at: number
}

/** What the re-check read from PostgreSQL, and when its answer arrived here. */
export interface CheckedRow {
  /** The key's current version: the row's, else its deletion's, else 0. */
  version: number
  /**
   * When that version was written, on PostgreSQL's clock in epoch milliseconds: the row's
   * `updated_at` or the deletion's `deleted_at`, both `now()` of the writing transaction (its
   * start, not its COMMIT). Null when the key was never written.
   */
  changedAt: number | null
  /** PostgreSQL's `now()` in the same query, in epoch milliseconds. */
  dbNow: number
  /** `performance.now()` here when the answer arrived, in milliseconds. */
  answeredAt: number
}

/** The outcome of one check. `stalenessMs` is set when PostgreSQL held a newer version. */
export interface Verdict {
  result: 'consistent' | 'stale'
  stalenessMs?: number
}

/**
 * Judges a sampled read against PostgreSQL's answer.
 *
 * Same version: consistent. A newer version in PostgreSQL, written at `changedAt`: the read's start
 * is moved onto PostgreSQL's clock by differences only, `dbNow − (answeredAt − at)`, so no offset
 * between this host's clock and the database's enters (only the two processes' tick rates, which
 * NTP keeps within parts per million). Taking the answer's arrival for the moment PostgreSQL read
 * `now()` puts the read up to one round trip too early: the staleness can come out too small,
 * never too large. Staleness is that moment minus `changedAt`, 0 if negative (the read began
 * before the write); beyond `boundMs` the read is stale, otherwise consistent within the bound.
 * An older version in PostgreSQL than the one served (a version that never committed, or a
 * database restored to an earlier state) is stale with no staleness figure.
 */
export function judge(served: ServedRead, row: CheckedRow, boundMs: number): Verdict {
  if (row.version === served.version) return { result: 'consistent' }
  if (row.version < served.version) return { result: 'stale' }
  const servedOnDbClock = row.dbNow - (row.answeredAt - served.at)
  const stalenessMs = row.changedAt === null ? 0 : Math.max(0, servedOnDbClock - row.changedAt)
  return { result: stalenessMs > boundMs ? 'stale' : 'consistent', stalenessMs }
}

/** The most nines reported: no stale check at all, or fewer than one in a million. */
export const MAX_NINES = 6

/**
 * The SLI as "nines within the bound": −log10(stale / checks), two decimals (3 = one check in a
 * thousand stale). {@link MAX_NINES} when no check was stale (or fewer than one in a million),
 * null when nothing was checked.
 */
export function consistencyNines(checks: number, stale: number): number | null {
  if (checks <= 0) return null
  if (stale <= 0) return MAX_NINES
  const nines = -Math.log10(stale / checks)
  // max(0, …): every check stale is 0 nines, not −0.
  return Math.max(0, Math.min(MAX_NINES, Math.round(nines * 100) / 100))
}
