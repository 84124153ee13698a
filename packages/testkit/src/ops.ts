import type { ReadOp, WriteOp } from './history.js'

let nextId = 1_000_000

/**
 * A hand-built write for tests of a checker or a report: acknowledged by `replica-1` unless the
 * fields say otherwise; the status follows the outcome.
 * @example writeOp({ start: 0, end: 5, version: 1 })
 */
export function writeOp(fields: Partial<WriteOp> & Pick<WriteOp, 'start' | 'end'>): WriteOp {
  const outcome = fields.outcome ?? 'acked'
  return {
    type: 'write',
    id: nextId++,
    key: 'k',
    status: outcome === 'acked' ? 200 : outcome === 'refused' ? 503 : 502,
    outcome,
    version: undefined,
    replica: 'replica-1',
    code: undefined,
    ...fields,
  }
}

/**
 * A hand-built read: found, from `replica-1`'s L1, unless the fields say otherwise; the status
 * follows the outcome.
 * @example readOp({ start: 6, end: 7, version: 1, replica: 'replica-2' })
 */
export function readOp(fields: Partial<ReadOp> & Pick<ReadOp, 'start' | 'end'>): ReadOp {
  const outcome = fields.outcome ?? 'found'
  return {
    type: 'read',
    id: nextId++,
    key: 'k',
    status: outcome === 'found' ? 200 : outcome === 'not-found' ? 404 : 502,
    outcome,
    version: undefined,
    cacheLevel: 'L1',
    replica: 'replica-1',
    code: undefined,
    ...fields,
  }
}
