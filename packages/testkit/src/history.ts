/**
 * How a write ended, as far as its client can tell.
 * - `acked`: 200. The row is committed (guarantee 1) at the version the answer carries.
 * - `refused`: an answer that promises nothing changed: any 4xx, or the API's own 503
 *   (`CACHE_UNAVAILABLE`, `DATABASE_UNAVAILABLE`).
 * - `unknown`: no answer from the API — a connection error, a timeout, a 5xx written by nginx
 *   (502/504: the replica died or went silent mid-request) or a 500. It may have committed.
 */
export type WriteOutcome = 'acked' | 'refused' | 'unknown'

/** How a read ended: a row (`found`), the API's 404 (`not-found`), or anything else (`failed`). */
export type ReadOutcome = 'found' | 'not-found' | 'failed'

/** What every recorded operation carries. Times are milliseconds on the recorder's clock. */
interface OperationBase {
  /** Unique within its history, in start order. */
  id: number
  key: string
  /** When the client sent the request. */
  start: number
  /** When the client had the whole answer (for a write: its acknowledgement), or gave up. */
  end: number
  /** HTTP status; 0 when there was no HTTP answer (connection error, timeout). */
  status: number
  /** `X-Replica-Id` of the answer: the replica that served it, after any retry by nginx. */
  replica: string | undefined
  /** `error.code` of an error body, or the client's own reason (`timeout`, `ECONNREFUSED`, …). */
  code: string | undefined
}

/** A recorded `POST /write`. */
export interface WriteOp extends OperationBase {
  type: 'write'
  outcome: WriteOutcome
  /** The version the write was acknowledged with; undefined unless `acked`. */
  version: number | undefined
}

/** A recorded `GET /read/{key}`. */
export interface ReadOp extends OperationBase {
  type: 'read'
  outcome: ReadOutcome
  /** The version served; undefined unless `found`. */
  version: number | undefined
  /** `X-Cache-Level`: `L1`, `L2` or `DB`; undefined when the answer had none. */
  cacheLevel: string | undefined
}

/** A history as the checker reads it: completed operations, in any order. */
export interface HistoryLog {
  readonly writes: readonly WriteOp[]
  readonly reads: readonly ReadOp[]
}

/** An operation that has started and not yet ended. */
export interface PendingOp {
  readonly id: number
  readonly key: string
  readonly start: number
}

/** The part of an answer a write records. */
export interface WriteAnswer {
  status: number
  version?: number | undefined
  replica?: string | undefined
  code?: string | undefined
}

/** The part of an answer a read records. */
export interface ReadAnswer extends WriteAnswer {
  cacheLevel?: string | undefined
}

/** The API's 503 codes: each promises that nothing changed. */
const API_REFUSALS: ReadonlySet<string> = new Set(['CACHE_UNAVAILABLE', 'DATABASE_UNAVAILABLE'])

/** Classifies a write's answer; see {@link WriteOutcome}. */
export function writeOutcomeOf(answer: WriteAnswer): WriteOutcome {
  if (answer.status === 200) return answer.version === undefined ? 'unknown' : 'acked'
  if (answer.status >= 400 && answer.status < 500) return 'refused'
  if (answer.status === 503 && answer.code !== undefined && API_REFUSALS.has(answer.code))
    return 'refused'
  return 'unknown'
}

/** Classifies a read's answer; see {@link ReadOutcome}. */
export function readOutcomeOf(answer: ReadAnswer): ReadOutcome {
  if (answer.status === 200 && answer.version !== undefined) return 'found'
  if (answer.status === 404 && answer.code === 'KEY_NOT_FOUND') return 'not-found'
  return 'failed'
}

/**
 * Records reads and writes with start and end times on one monotonic clock, for
 * {@link checkHistory}. Every operation begun must be completed (clients time out rather than
 * leave one open); `inFlight` counts those that are not yet.
 *
 * @example
 * const history = new History()
 * const op = history.beginWrite('k')
 * history.completeWrite(op, { status: 200, version: 3, replica: 'replica-1' })
 */
export class History implements HistoryLog {
  readonly #clock: () => number
  readonly #writes: WriteOp[] = []
  readonly #reads: ReadOp[] = []
  #nextId = 1
  #inFlight = 0

  /** `clock` returns milliseconds and never goes back. @default performance.now */
  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? (() => performance.now())
  }

  /** The recorder's clock, for marking fault times on the same scale as the operations. */
  now(): number {
    return this.#clock()
  }

  get writes(): readonly WriteOp[] {
    return this.#writes
  }

  get reads(): readonly ReadOp[] {
    return this.#reads
  }

  /** Operations begun and not yet completed. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Marks the start of a write; call just before sending it. */
  beginWrite(key: string): PendingOp {
    return this.#begin(key)
  }

  /** Marks the start of a read; call just before sending it. */
  beginRead(key: string): PendingOp {
    return this.#begin(key)
  }

  /** Records how a write ended; call as soon as its answer (or failure) is in. */
  completeWrite(op: PendingOp, answer: WriteAnswer): WriteOp {
    const write: WriteOp = {
      type: 'write',
      ...this.#end(op, answer),
      outcome: writeOutcomeOf(answer),
      version: answer.status === 200 ? answer.version : undefined,
    }
    this.#writes.push(write)
    return write
  }

  /** Records how a read ended; call as soon as its answer (or failure) is in. */
  completeRead(op: PendingOp, answer: ReadAnswer): ReadOp {
    const outcome = readOutcomeOf(answer)
    const read: ReadOp = {
      type: 'read',
      ...this.#end(op, answer),
      outcome,
      version: outcome === 'found' ? answer.version : undefined,
      cacheLevel: answer.cacheLevel,
    }
    this.#reads.push(read)
    return read
  }

  /** Plain data, for saving next to a report. */
  toJSON(): { writes: readonly WriteOp[]; reads: readonly ReadOp[] } {
    return { writes: this.#writes, reads: this.#reads }
  }

  #begin(key: string): PendingOp {
    this.#inFlight++
    return { id: this.#nextId++, key, start: this.#clock() }
  }

  /** What any operation records as it ends: when, and what its answer said. */
  #end(op: PendingOp, answer: WriteAnswer): OperationBase {
    this.#inFlight--
    return {
      id: op.id,
      key: op.key,
      start: op.start,
      end: this.#clock(),
      status: answer.status,
      replica: answer.replica,
      code: answer.code,
    }
  }
}
