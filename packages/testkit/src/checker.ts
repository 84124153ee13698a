import type { HistoryLog, ReadOp, WriteOp } from './history.js'
import { percentile } from './percentile.js'

/**
 * What the checker can find.
 * - `read-your-writes` (guarantee 2): a read served by the replica that acknowledged a write,
 *   begun after that acknowledgement, returned an older version.
 * - `bounded-staleness` (guarantee 3): a read begun more than the bound after a write's
 *   acknowledgement returned an older version, on any replica.
 * - `impossible-read`: a read returned a version no write could have produced by the time it
 *   ended (more than the initial version plus every write begun before its end), or one above
 *   what the database holds at the end: an uncommitted or invented version.
 * - `lost-write` (guarantee 1): at the end the database holds a lower version of a key than a
 *   write of it that was acknowledged.
 * - `refused-write-applied` (guarantee 6): the database holds more versions of a key than the
 *   acknowledged writes plus the writes of unknown outcome can explain, so a write answered as
 *   refused ("nothing changed") was committed.
 * - `duplicate-version`: two acknowledged writes of a key carry the same version.
 */
export type ViolationKind =
  | 'read-your-writes'
  | 'bounded-staleness'
  | 'impossible-read'
  | 'lost-write'
  | 'refused-write-applied'
  | 'duplicate-version'

/** Every kind, in report order. */
export const VIOLATION_KINDS: readonly ViolationKind[] = [
  'read-your-writes',
  'bounded-staleness',
  'impossible-read',
  'lost-write',
  'refused-write-applied',
  'duplicate-version',
]

/** One broken guarantee, with the operations that show it. */
export interface Violation {
  kind: ViolationKind
  key: string
  /** The finding in one sentence, with versions and times. */
  message: string
  read?: ReadOp
  write?: WriteOp
}

/**
 * The staleness clients observed.
 *
 * A read that began at time `s` and returned version `v` of a key is **stale** when a write of
 * that key with a version above `v` had been acknowledged before `s`. Its **staleness** is `s`
 * minus the earliest such acknowledgement: how long the value it returned had already been
 * superseded, as the clients saw it. A read that returned the newest acknowledged version, or a
 * newer one from a write still in flight, is not stale. A `not-found` read counts as version 0.
 * Reads that overlap the acknowledgement (begun before it) are never stale: they may return
 * either version.
 */
export interface StalenessSummary {
  /** Reads that answered (`found` or `not-found`). */
  reads: number
  /** How many of them were stale. */
  stale: number
  /** Staleness of the stale reads in milliseconds (nearest rank); 0 when none was stale. */
  p50: number
  p99: number
  max: number
}

/** What `checkHistory` found. */
export interface CheckReport {
  stalenessBoundMs: number
  /** Every violation, counted by kind. */
  violations: Record<ViolationKind, number>
  /** The sum of `violations`. */
  totalViolations: number
  /** Up to `maxExamples` violations of each kind, in the order found. */
  examples: Violation[]
  staleness: StalenessSummary
  writes: { acked: number; refused: number; unknown: number }
  reads: { found: number; notFound: number; failed: number }
  /** Which checks ran: the database-dependent ones need `initialVersions` / `finalVersions`. */
  checked: { impossibleReads: boolean; lostWrites: boolean; refusedWritesApplied: boolean }
}

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /**
   * Guarantee 3's bound, in milliseconds: a read begun this long after a write's acknowledgement
   * must return at least that write's version, on every replica.
   * @default 100
   */
  stalenessBoundMs?: number
  /**
   * Each key's version in the database before the history began (absent key: 0). Counts as
   * acknowledged long before every read, and enables the `impossible-read` and
   * `refused-write-applied` checks. Without it, keys are assumed to start at version 0 only for
   * reads-after-acks; the two checks are skipped.
   */
  initialVersions?: ReadonlyMap<string, number>
  /**
   * Each key's version in the database after the history ended (absent key: 0), read from
   * PostgreSQL directly. Enables the `lost-write` and `refused-write-applied` checks.
   */
  finalVersions?: ReadonlyMap<string, number>
  /**
   * How many violations of each kind the report keeps as examples (all are counted).
   * @default 20
   */
  maxExamples?: number
}

/** Acknowledged writes of one key (or one key on one replica), ordered by acknowledgement time. */
class AckTimeline {
  readonly #times: number[] = []
  /** Highest version acknowledged up to and including each index: non-decreasing. */
  readonly #highest: number[] = []
  readonly #floor: number

  /** `floor`: the version acknowledged before the timeline begins (the initial version). */
  constructor(acks: readonly WriteOp[], floor: number) {
    this.#floor = floor
    let highest = floor
    for (const write of [...acks].sort((a, b) => a.end - b.end)) {
      highest = Math.max(highest, write.version ?? 0)
      this.#times.push(write.end)
      this.#highest.push(highest)
    }
  }

  /** The highest version acknowledged strictly before `time`. */
  highestBefore(time: number): number {
    const count = countBelow(this.#times, time)
    return count === 0 ? this.#floor : (this.#highest[count - 1] as number)
  }

  /**
   * The earliest acknowledgement before `time` of a version above `version`, or undefined when
   * none (or only the initial version, acknowledged at no known time) is above it.
   */
  firstAckAbove(version: number, time: number): number | undefined {
    const count = countBelow(this.#times, time)
    let low = 0
    let high = count
    while (low < high) {
      const mid = (low + high) >>> 1
      if ((this.#highest[mid] as number) > version) high = mid
      else low = mid + 1
    }
    return low < count ? this.#times[low] : undefined
  }
}

/** How many of the ascending `values` are strictly below `limit`. */
function countBelow(values: readonly number[], limit: number): number {
  let low = 0
  let high = values.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((values[mid] as number) < limit) low = mid + 1
    else high = mid
  }
  return low
}

function groupByKey<T extends { key: string }>(ops: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const op of ops) {
    const group = groups.get(op.key)
    if (group) group.push(op)
    else groups.set(op.key, [op])
  }
  return groups
}

const ms = (value: number) => `${value.toFixed(1)} ms`

/**
 * Checks a history against Strata's guarantees 1, 2, 3 and 6 (see {@link ViolationKind}) and
 * measures the staleness clients observed (see {@link StalenessSummary}).
 *
 * Concurrency is respected: a read that began before a write was acknowledged may return the
 * old or the new version, and a write of unknown outcome may or may not have happened. Only a
 * read that began after an acknowledgement — on the acknowledging replica at once, elsewhere
 * after the bound — must see at least that version. Deletes are not modelled.
 *
 * @example
 * const report = checkHistory(history, { stalenessBoundMs: 100, finalVersions })
 * if (report.totalViolations > 0) console.error(report.examples)
 */
export function checkHistory(history: HistoryLog, options: CheckOptions = {}): CheckReport {
  const bound = options.stalenessBoundMs ?? 100
  if (!Number.isFinite(bound) || bound < 0)
    throw new RangeError(`stalenessBoundMs must be a number ≥ 0 (got ${bound})`)
  const maxExamples = options.maxExamples ?? 20
  const { initialVersions, finalVersions } = options

  const violations = Object.fromEntries(VIOLATION_KINDS.map((kind) => [kind, 0])) as Record<
    ViolationKind,
    number
  >
  const examples: Violation[] = []
  const report = (violation: Violation) => {
    violations[violation.kind]++
    if (violations[violation.kind] <= maxExamples) examples.push(violation)
  }
  const stalenessSamples: number[] = []
  const writes = { acked: 0, refused: 0, unknown: 0 }
  const reads = { found: 0, notFound: 0, failed: 0 }
  for (const write of history.writes) writes[write.outcome]++
  for (const read of history.reads) {
    if (read.outcome === 'found') reads.found++
    else if (read.outcome === 'not-found') reads.notFound++
    else reads.failed++
  }

  const writesByKey = groupByKey(history.writes)
  const readsByKey = groupByKey(history.reads)
  const keys = new Set([...writesByKey.keys(), ...readsByKey.keys()])
  for (const key of keys) {
    const keyWrites = writesByKey.get(key) ?? []
    const acked = keyWrites.filter((write) => write.outcome === 'acked')
    const initial = initialVersions?.get(key) ?? 0
    const final = finalVersions?.get(key) ?? 0
    const everywhere = new AckTimeline(acked, initial)
    const byReplica = new Map<string, AckTimeline>()
    for (const replica of new Set(acked.map((write) => write.replica))) {
      if (replica === undefined) continue
      const own = acked.filter((write) => write.replica === replica)
      byReplica.set(replica, new AckTimeline(own, 0))
    }
    // Upper bound of a version at a time: the initial one plus every write begun by then.
    const writeStarts = keyWrites.map((write) => write.start).sort((a, b) => a - b)

    for (const read of readsByKey.get(key) ?? []) {
      if (read.outcome === 'failed') continue
      const version = read.outcome === 'found' ? (read.version ?? 0) : 0

      if (initialVersions) {
        const possible = initial + countBelow(writeStarts, read.end)
        const ceiling = finalVersions ? Math.min(possible, final) : possible
        if (version > ceiling) {
          report({
            kind: 'impossible-read',
            key,
            read,
            message:
              `read #${read.id} of ${key} on ${read.replica} returned version ${version}, but at ` +
              `most ${ceiling} could exist by its end (initial ${initial}, ${possible - initial} writes begun` +
              `${finalVersions ? `, ${final} in the database at the end` : ''})`,
          })
          continue
        }
      }

      const own = read.replica === undefined ? undefined : byReplica.get(read.replica)
      const ownRequired = own?.highestBefore(read.start) ?? 0
      if (version < ownRequired) {
        report({
          kind: 'read-your-writes',
          key,
          read,
          message:
            `read #${read.id} of ${key} on ${read.replica} returned version ${version}, but ` +
            `${read.replica} had acknowledged version ${ownRequired} before the read began`,
        })
        continue
      }

      const required = everywhere.highestBefore(read.start - bound)
      if (version < required) {
        const since = everywhere.firstAckAbove(version, read.start - bound)
        report({
          kind: 'bounded-staleness',
          key,
          read,
          message:
            `read #${read.id} of ${key} on ${read.replica} returned version ${version}, ` +
            (since === undefined
              ? `below the initial version ${initial}`
              : `${ms(read.start - since)} after a newer version was acknowledged (bound ${bound} ms)`),
        })
      }

      if (version < everywhere.highestBefore(read.start)) {
        const since = everywhere.firstAckAbove(version, read.start)
        // Below the initial version only: no acknowledgement time, so no finite staleness; the
        // read was reported as a violation above.
        if (since !== undefined) stalenessSamples.push(read.start - since)
      }
    }

    const versions = new Map<number, WriteOp>()
    for (const write of acked) {
      const version = write.version ?? 0
      const first = versions.get(version)
      if (first) {
        report({
          kind: 'duplicate-version',
          key,
          write,
          message: `writes #${first.id} and #${write.id} of ${key} were both acknowledged as version ${version}`,
        })
      } else versions.set(version, write)
    }

    if (finalVersions) {
      const highestAcked = acked.reduce((most, write) => Math.max(most, write.version ?? 0), 0)
      if (final < highestAcked) {
        const write = acked.find((w) => w.version === highestAcked)
        report({
          kind: 'lost-write',
          key,
          ...(write ? { write } : {}),
          message: `${key}: version ${highestAcked} was acknowledged, but the database holds version ${final}`,
        })
      }
      if (initialVersions) {
        const committed = final - initial
        const unknown = keyWrites.filter((write) => write.outcome === 'unknown').length
        if (committed > acked.length + unknown) {
          report({
            kind: 'refused-write-applied',
            key,
            message:
              `${key}: ${committed} writes were committed (version ${initial} → ${final}), but only ` +
              `${acked.length} were acknowledged and ${unknown} had an unknown outcome`,
          })
        }
      }
    }
  }

  stalenessSamples.sort((a, b) => a - b)
  const totalViolations = VIOLATION_KINDS.reduce((sum, kind) => sum + violations[kind], 0)
  return {
    stalenessBoundMs: bound,
    violations,
    totalViolations,
    examples,
    staleness: {
      reads: reads.found + reads.notFound,
      stale: stalenessSamples.length,
      p50: percentile(stalenessSamples, 50),
      p99: percentile(stalenessSamples, 99),
      max: stalenessSamples.at(-1) ?? 0,
    },
    writes,
    reads,
    checked: {
      impossibleReads: initialVersions !== undefined,
      lostWrites: finalVersions !== undefined,
      refusedWritesApplied: initialVersions !== undefined && finalVersions !== undefined,
    },
  }
}
