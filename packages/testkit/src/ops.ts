import type { ReadOp, ReadOutcome, WriteOp, WriteOutcome } from './history.js'

let nextId = 1_000_000

/** The status an answer with each outcome has unless the fields say otherwise. */
const WRITE_STATUS: Record<WriteOutcome, number> = { acked: 200, refused: 503, unknown: 502 }
const READ_STATUS: Record<ReadOutcome, number> = { found: 200, 'not-found': 404, failed: 502 }

/** What a hand-built operation is unless its fields say otherwise: a fresh id, on key `k`. */
const defaults = <Outcome extends string>(outcome: Outcome, status: Record<Outcome, number>) => ({
  id: nextId++,
  key: 'k',
  outcome,
  status: status[outcome],
  version: undefined,
  replica: 'replica-1',
  code: undefined,
})

/**
 * A hand-built write for tests of a checker or a report: acknowledged by `replica-1` unless the
 * fields say otherwise; the status follows the outcome.
 * @example writeOp({ start: 0, end: 5, version: 1 })
 */
export function writeOp(fields: Partial<WriteOp> & Pick<WriteOp, 'start' | 'end'>): WriteOp {
  return {
    type: 'write',
    ...defaults(fields.outcome ?? 'acked', WRITE_STATUS),
    ...fields,
  }
}

/**
 * A hand-built read: found, from `replica-1`'s L1, unless the fields say otherwise; the status
 * follows the outcome.
 * @example readOp({ start: 6, end: 7, version: 1, replica: 'replica-2' })
 */
export function readOp(fields: Partial<ReadOp> & Pick<ReadOp, 'start' | 'end'>): ReadOp {
  return {
    type: 'read',
    ...defaults(fields.outcome ?? 'found', READ_STATUS),
    cacheLevel: 'L1',
    ...fields,
  }
}
