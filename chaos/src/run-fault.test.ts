import { checkHistory, type HistoryLog, writeOp } from '@strata/testkit'
import { describe, expect, it } from 'vitest'
import { UNKNOWN_GRACE_MS } from './fault.js'
import { FAULTS } from './faults.js'
import { phaseStats } from './measure.js'
import { judge } from './run-fault.js'
import { KeySpace } from './workload.js'

const write = (fields: Parameters<typeof writeOp>[0]) => writeOp({ key: 'chaos:w:0', ...fields })
/** A write that began at `start` and whose answer (`status`) left its outcome unknown. */
const unknownWrite = (start: number, end: number, status: number) =>
  write({ start, end, status, outcome: 'unknown' })

/** Judges a history of writes as if `fault` had been injected at 100 and ended at 200. */
function verdict(name: keyof typeof FAULTS, history: HistoryLog): string[] {
  const keys = new KeySpace({ writtenKeys: 1, readOnlyKeys: 0 })
  const window = { injectedAt: 100, injectionDoneAt: 110, endedAt: 200 }
  const phase = (p: 'before' | 'during' | 'after', from: number, to: number) =>
    phaseStats(p, history, [], keys, from, to)
  return judge(
    FAULTS[name],
    {
      fault: name,
      title: '',
      faultMs: 100,
      recoveryMs: 10,
      phases: [phase('before', 0, 100), phase('during', 100, 200), phase('after', 200, 300)],
      check: checkHistory(history),
      load: { sent: 10, skipped: 0, lagged: 0, rate: 100 },
      notes: [],
      redis: 'single',
      figures: {},
    },
    history.writes,
    window,
  )
}

describe('judge', () => {
  it('accepts an unknown outcome only for a write in flight when the replica was killed, or just after', () => {
    const inFlight = unknownWrite(95, 150, 502)
    const justAfter = unknownWrite(110 + UNKNOWN_GRACE_MS, 1_200, 502)
    const later = unknownWrite(111 + UNKNOWN_GRACE_MS, 1_200, 502)
    const acked = write({ start: 10, end: 20, version: 1 })
    expect(verdict('replica-kill', { writes: [acked, inFlight, justAfter], reads: [] })).toEqual([])
    expect(verdict('replica-kill', { writes: [acked, inFlight, later], reads: [] })).toEqual([
      `1 writes of unknown outcome began more than ${UNKNOWN_GRACE_MS} ms after the injection`,
    ])
  })

  it('accepts an unknown outcome for a write in flight while the fault was on, not one begun after it', () => {
    // postgres-freeze: injected at 100, over at 200.
    const duringFault = unknownWrite(150, 400, 504)
    const justAfter = unknownWrite(200 + UNKNOWN_GRACE_MS, 1_300, 504)
    const later = unknownWrite(201 + UNKNOWN_GRACE_MS, 1_300, 504)
    expect(verdict('postgres-freeze', { writes: [duringFault, justAfter], reads: [] })).toEqual([])
    expect(verdict('postgres-freeze', { writes: [duringFault, later], reads: [] })).toEqual([
      `1 writes of unknown outcome began more than ${UNKNOWN_GRACE_MS} ms after the end of the fault`,
    ])
  })

  it('fails a fault whose writes ended in an outcome it does not allow', () => {
    const refused = write({ start: 150, end: 160, status: 503, outcome: 'refused' })
    expect(verdict('redis-kill', { writes: [refused], reads: [] })).toEqual([])
    expect(verdict('subscriber-kill', { writes: [refused], reads: [] })).toEqual([
      '1 writes ended refused; expected only acked',
    ])
  })
})
