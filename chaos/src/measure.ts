import { type HistoryLog, percentile, type ReadOp, type WriteOp } from '@strata/testkit'
import type { InFlightSample, KeySpace } from './workload.js'

/** Figures of one phase of a fault run: operations are assigned to the phase they began in. */
export interface PhaseStats {
  phase: 'before' | 'during' | 'after'
  /** Length of the phase, ms. */
  durationMs: number
  reads: number
  /** Reads through nginx that got a 5xx, another unexpected status, or no answer at all. */
  failedReads: number
  /** Of those, reads of read-only keys: always cached, so never allowed to fail. */
  failedCachedReads: number
  /** Failed reads by `status code`, e.g. `503 DATABASE_UNAVAILABLE`, `0 ECONNRESET`. */
  failedReadCauses: Record<string, number>
  /** Share of answered reads served by L1 or L2, percent (clients' view, from `X-Cache-Level`). */
  hitRate: number
  /** Share of answered reads served by L1, percent. */
  l1Rate: number
  /** Read latency, ms: p50, p99, max. */
  readLatency: { p50: number; p99: number; max: number }
  writes: { acked: number; refused: number; unknown: number }
  /** Writes that were not acknowledged, by `status code`. */
  writeFailureCauses: Record<string, number>
  /** Most requests in flight at once (sampled every 50 ms). */
  maxInFlight: number
  /** The same, for each second of the phase: shows whether requests keep piling up. */
  maxInFlightPerSecond: number[]
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits
const cause = (op: ReadOp | WriteOp) => `${op.status} ${op.code ?? ''}`.trim()
const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

/** The figures of the operations that began in [from, to). */
export function phaseStats(
  phase: PhaseStats['phase'],
  history: HistoryLog,
  samples: readonly InFlightSample[],
  keys: KeySpace,
  from: number,
  to: number,
): PhaseStats {
  const within = (op: { start: number }) => op.start >= from && op.start < to
  const reads = history.reads.filter(within)
  const writes = history.writes.filter(within)
  const failed = reads.filter((read) => read.outcome === 'failed')
  const failedReadCauses: Record<string, number> = {}
  for (const read of failed) bump(failedReadCauses, cause(read))
  const answered = reads.filter((read) => read.outcome !== 'failed')
  const cached = answered.filter((read) => read.cacheLevel === 'L1' || read.cacheLevel === 'L2')
  const l1 = answered.filter((read) => read.cacheLevel === 'L1')
  const latencies = reads.map((read) => read.end - read.start).sort((a, b) => a - b)
  const writeCounts = { acked: 0, refused: 0, unknown: 0 }
  const writeFailureCauses: Record<string, number> = {}
  for (const write of writes) {
    writeCounts[write.outcome]++
    if (write.outcome !== 'acked') bump(writeFailureCauses, cause(write))
  }
  const inFlight = samples.filter((sample) => sample.at >= from && sample.at < to)
  const percent = (part: number) =>
    answered.length === 0 ? 0 : round((100 * part) / answered.length)
  return {
    phase,
    durationMs: Math.round(to - from),
    reads: reads.length,
    failedReads: failed.length,
    failedCachedReads: failed.filter((read) => keys.isReadOnly(read.key)).length,
    failedReadCauses,
    hitRate: percent(cached.length),
    l1Rate: percent(l1.length),
    readLatency: {
      p50: round(percentile(latencies, 50), 2),
      p99: round(percentile(latencies, 99), 2),
      max: round(latencies.at(-1) ?? 0, 2),
    },
    writes: writeCounts,
    writeFailureCauses,
    maxInFlight: inFlight.reduce((most, sample) => Math.max(most, sample.inFlight), 0),
    maxInFlightPerSecond: inFlight.reduce<number[]>((perSecond, sample) => {
      const second = Math.floor((sample.at - from) / 1000)
      perSecond[second] = Math.max(perSecond[second] ?? 0, sample.inFlight)
      return perSecond
    }, []),
  }
}

/**
 * Time to recover, in ms: from the end of the fault until both (a) every replica has answered
 * a read from its L1 and (b) a write was acknowledged — counting only requests that began after
 * the fault ended. Undefined when that did not happen before the run ended.
 */
export function recoveryTime(
  history: HistoryLog,
  endedAt: number,
  replicas: readonly string[],
): number | undefined {
  const after = (op: { start: number }) => op.start >= endedAt
  const firstEnd = (ops: ReadonlyArray<{ end: number }>) =>
    ops.reduce<number | undefined>((first, op) => Math.min(first ?? op.end, op.end), undefined)
  const marks = replicas.map((replica) =>
    firstEnd(
      history.reads.filter(
        (read) => after(read) && read.replica === replica && read.cacheLevel === 'L1',
      ),
    ),
  )
  marks.push(firstEnd(history.writes.filter((write) => after(write) && write.outcome === 'acked')))
  if (marks.some((mark) => mark === undefined)) return undefined
  return round((marks as number[]).reduce((last, mark) => Math.max(last, mark)) - endedAt)
}
