import { describe, expect, it } from 'vitest'
import { checkHistory } from './checker.js'
import type { HistoryLog } from './history.js'
import { readOp, writeOp } from './ops.js'

const write = writeOp
const read = readOp

/** Version 1 acknowledged at 5, then version 2 written from `start` to `end` through `replica`. */
const twoVersions = (start: number, end: number, replica = 'replica-1') => [
  write({ start: 0, end: 5, version: 1 }),
  write({ start, end, version: 2, replica }),
]

/** Checks `history` against a table that began empty and ended with `k` at `finalVersion`. */
const checkFromEmpty = (history: HistoryLog, finalVersion: number) =>
  checkHistory(history, {
    initialVersions: new Map(),
    finalVersions: new Map([['k', finalVersion]]),
  })

describe('checkHistory', () => {
  it('finds nothing in a history where every read sees the latest acknowledged write', () => {
    const report = checkFromEmpty(
      {
        writes: twoVersions(10, 15, 'replica-2'),
        reads: [
          read({ start: 6, end: 7, version: 1 }),
          read({ start: 16, end: 17, version: 2, replica: 'replica-1' }),
          read({ start: 16, end: 17, version: 2, replica: 'replica-3' }),
        ],
      },
      2,
    )
    expect(report.totalViolations).toBe(0)
    expect(report.staleness).toEqual({ reads: 3, stale: 0, p50: 0, p99: 0, max: 0 })
    expect(report.writes).toEqual({ acked: 2, refused: 0, unknown: 0 })
    expect(report.checked).toEqual({
      impossibleReads: true,
      lostWrites: true,
      refusedWritesApplied: true,
    })
  })

  it('reports a read on the acknowledging replica that began after the ack and saw an older version', () => {
    const report = checkHistory({
      writes: twoVersions(10, 20),
      reads: [read({ start: 21, end: 22, version: 1, replica: 'replica-1' })],
    })
    expect(report.violations['read-your-writes']).toBe(1)
    expect(report.totalViolations).toBe(1)
    expect(report.examples[0]?.message).toMatch(/replica-1 had acknowledged version 2/)
  })

  it('allows another replica to serve the older version within the bound, and measures it as staleness', () => {
    const report = checkHistory({
      writes: twoVersions(10, 20),
      reads: [read({ start: 21, end: 22, version: 1, replica: 'replica-2' })],
    })
    expect(report.totalViolations).toBe(0)
    expect(report.staleness).toMatchObject({ stale: 1, p50: 1, max: 1 })
  })

  it('reports an older version on another replica only once the bound has passed', () => {
    const history = {
      writes: twoVersions(10, 20),
      reads: [read({ start: 170, end: 171, version: 1, replica: 'replica-2' })],
    }
    const tight = checkHistory(history, { stalenessBoundMs: 100 })
    expect(tight.violations['bounded-staleness']).toBe(1)
    expect(tight.examples[0]?.message).toMatch(/150\.0 ms after a newer version/)
    expect(checkHistory(history, { stalenessBoundMs: 200 }).totalViolations).toBe(0)
  })

  it('accepts either version from reads that overlap the write, on every replica', () => {
    const report = checkFromEmpty(
      {
        writes: twoVersions(100, 200),
        reads: [
          // Begun before the ack, ended after it: old or new are both correct.
          read({ start: 150, end: 300, version: 1, replica: 'replica-1' }),
          read({ start: 199, end: 201, version: 2, replica: 'replica-1' }),
          read({ start: 90, end: 120, version: 2, replica: 'replica-2' }),
          read({ start: 199.9, end: 400, version: 1, replica: 'replica-3' }),
        ],
      },
      2,
    )
    expect(report.totalViolations).toBe(0)
    expect(report.staleness.stale).toBe(0)
  })

  it('treats a write of unknown outcome as possibly applied, never as required', () => {
    const report = checkFromEmpty(
      {
        writes: [
          write({ start: 0, end: 5, version: 1 }),
          write({ start: 10, end: 20, outcome: 'unknown', replica: undefined }),
        ],
        reads: [
          read({ start: 30, end: 31, version: 2 }),
          read({ start: 500, end: 501, version: 1, replica: 'replica-2' }),
        ],
      },
      2,
    )
    expect(report.totalViolations).toBe(0)
    expect(report.writes).toEqual({ acked: 1, refused: 0, unknown: 1 })
  })

  it('reports a version no write could have produced yet, or that was never committed', () => {
    const report = checkFromEmpty(
      {
        writes: [write({ start: 50, end: 60, version: 1 })],
        reads: [
          // Ended before the only write began.
          read({ start: 10, end: 20, version: 1 }),
          // A version above what the database ever held.
          read({ start: 70, end: 80, version: 2 }),
        ],
      },
      1,
    )
    expect(report.violations['impossible-read']).toBe(2)
    expect(report.totalViolations).toBe(2)
  })

  it('reports an acknowledged version the database no longer holds', () => {
    const report = checkHistory(
      {
        writes: [
          write({ start: 0, end: 5, version: 1 }),
          write({ start: 10, end: 20, version: 2 }),
          write({ key: 'other', start: 0, end: 5, version: 1 }),
        ],
        reads: [],
      },
      { finalVersions: new Map([['k', 1]]) },
    )
    expect(report.violations['lost-write']).toBe(2)
    expect(report.examples.map((v) => v.key).sort()).toEqual(['k', 'other'])
  })

  it('reports a refused write that was committed, but not one of unknown outcome', () => {
    const initialVersions = new Map([['k', 4]])
    const writes = [write({ start: 0, end: 5, version: 5 })]
    const refused = write({ start: 10, end: 20, outcome: 'refused', replica: 'replica-2' })
    const finalVersions = new Map([['k', 6]])
    const applied = checkHistory(
      { writes: [...writes, refused], reads: [] },
      { initialVersions, finalVersions },
    )
    expect(applied.violations['refused-write-applied']).toBe(1)
    const unknown = checkHistory(
      { writes: [...writes, { ...refused, outcome: 'unknown' }], reads: [] },
      { initialVersions, finalVersions },
    )
    expect(unknown.totalViolations).toBe(0)
  })

  it('reports two acknowledgements of the same version', () => {
    const report = checkHistory({
      writes: [
        write({ start: 0, end: 5, version: 1 }),
        write({ start: 1, end: 6, version: 1, replica: 'replica-2' }),
      ],
      reads: [],
    })
    expect(report.violations['duplicate-version']).toBe(1)
  })

  it('counts a not-found answer after an acknowledged write as version 0', () => {
    const report = checkHistory({
      writes: [write({ start: 0, end: 5, version: 1, replica: 'replica-1' })],
      reads: [
        read({ start: 6, end: 7, outcome: 'not-found', replica: 'replica-1' }),
        read({ start: 300, end: 301, outcome: 'not-found', replica: 'replica-2' }),
      ],
    })
    expect(report.violations['read-your-writes']).toBe(1)
    expect(report.violations['bounded-staleness']).toBe(1)
  })

  it('holds reads to the initial version when it is known', () => {
    const history = { writes: [], reads: [read({ start: 0, end: 1, version: 2 })] }
    const initialVersions = new Map([['k', 3]])
    const report = checkHistory(history, { initialVersions })
    expect(report.violations['bounded-staleness']).toBe(1)
    expect(report.examples[0]?.message).toMatch(/below the initial version 3/)
    // Without an acknowledgement time there is no finite staleness to measure.
    expect(report.staleness.stale).toBe(0)
    expect(checkHistory(history).totalViolations).toBe(0)
  })

  it('uses the highest version acknowledged so far when acks arrive out of version order', () => {
    // Version 2 was acknowledged before version 1's answer reached its client.
    const report = checkHistory({
      writes: [
        write({ start: 0, end: 12, version: 1, replica: 'replica-2' }),
        write({ start: 1, end: 10, version: 2, replica: 'replica-3' }),
      ],
      reads: [read({ start: 13, end: 14, version: 2 }), read({ start: 15, end: 16, version: 1 })],
    })
    expect(report.totalViolations).toBe(0)
    // Version 1 had been superseded since version 2's ack at 10.
    expect(report.staleness).toMatchObject({ stale: 1, max: 5 })
  })

  it('summarises staleness as nearest-rank p50, p99 and max over the stale reads', () => {
    const writes = [
      write({ start: 0, end: 1, version: 1 }),
      write({ start: 2, end: 10, version: 2, replica: 'replica-1' }),
    ]
    // Stale reads on replica-2 begun 1, 2, …, 10 ms after the ack, plus a fresh one.
    const reads = Array.from({ length: 10 }, (_, i) =>
      read({ start: 11 + i, end: 12 + i, version: 1, replica: 'replica-2' }),
    )
    reads.push(read({ start: 50, end: 51, version: 2, replica: 'replica-2' }))
    const report = checkHistory({ writes, reads })
    expect(report.totalViolations).toBe(0)
    expect(report.staleness).toEqual({ reads: 11, stale: 10, p50: 5, p99: 10, max: 10 })
  })

  it('ignores failed reads, and keys are independent', () => {
    const report = checkHistory({
      writes: [
        write({ start: 0, end: 5, version: 3 }),
        write({ key: 'other', start: 0, end: 5, version: 1 }),
      ],
      reads: [
        read({ start: 200, end: 201, outcome: 'failed', replica: 'replica-2' }),
        read({ key: 'other', start: 200, end: 201, version: 1, replica: 'replica-2' }),
      ],
    })
    expect(report.totalViolations).toBe(0)
    expect(report.reads).toEqual({ found: 1, notFound: 0, failed: 1 })
  })

  it('keeps a bounded number of examples but counts every violation', () => {
    const writes = [
      write({ start: 0, end: 1, version: 1 }),
      write({ start: 2, end: 3, version: 2 }),
    ]
    const reads = Array.from({ length: 30 }, (_, i) =>
      read({ start: 10 + i, end: 11 + i, version: 1 }),
    )
    const report = checkHistory({ writes, reads }, { maxExamples: 5 })
    expect(report.violations['read-your-writes']).toBe(30)
    expect(report.examples).toHaveLength(5)
  })
})
