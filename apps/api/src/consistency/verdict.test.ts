import { describe, expect, it } from 'vitest'
import { consistencyNines, judge, MAX_NINES } from './verdict.js'

const BOUND = 100

/**
 * A check whose answer arrived `sinceRead` ms after the read began (on this process's monotonic
 * clock), PostgreSQL's clock reading `dbNow` then, and the newest version written at `changedAt`
 * on PostgreSQL's clock.
 */
function check(
  served: number,
  current: number,
  changedAt: number | null,
  dbNow: number,
  sinceRead = 150,
) {
  const readAt = 5_000.25 // this process's performance.now(): unrelated to either wall clock
  return judge(
    { version: served, at: readAt },
    { version: current, changedAt, dbNow, answeredAt: readAt + sinceRead },
    BOUND,
  )
}

describe('the consistency verdict', () => {
  it('is consistent when PostgreSQL holds the served version, whatever the clocks say', () => {
    expect(check(7, 7, 1_000, 2_000)).toEqual({ result: 'consistent' })
    expect(check(0, 0, null, 2_000)).toEqual({ result: 'consistent' })
  })

  it('measures staleness from the newer write to the read, on PostgreSQL clock only', () => {
    // The read began 150 ms before the answer, PostgreSQL said 10_000 then: the read was at
    // 9_850 on its clock. The newer version was written at 9_800: 50 ms stale, within 100 ms.
    expect(check(3, 4, 9_800, 10_000)).toEqual({ result: 'consistent', stalenessMs: 50 })
    // Written at 9_700: 150 ms stale, past the bound.
    expect(check(3, 4, 9_700, 10_000)).toEqual({ result: 'stale', stalenessMs: 150 })
  })

  it('does not move with an offset between this host and PostgreSQL', () => {
    // The same instants as above with PostgreSQL's clock an hour ahead, then a day behind: the
    // replica's wall clock never enters, only differences of its monotonic clock.
    const hour = 3_600_000
    expect(check(3, 4, 9_700 + hour, 10_000 + hour)).toEqual({ result: 'stale', stalenessMs: 150 })
    const day = 24 * hour
    expect(check(3, 4, 9_800 - day, 10_000 - day)).toEqual({
      result: 'consistent',
      stalenessMs: 50,
    })
  })

  it('counts a write after the read began as 0 staleness: the read was concurrent or earlier', () => {
    expect(check(3, 5, 9_900, 10_000)).toEqual({ result: 'consistent', stalenessMs: 0 })
  })

  it('is exactly at the bound consistent, past it stale', () => {
    expect(check(1, 2, 9_750, 10_000)).toEqual({ result: 'consistent', stalenessMs: 100 })
    expect(check(1, 2, 9_749, 10_000).result).toBe('stale')
  })

  it('judges a deletion like a write, by its version and time', () => {
    // A 404 served at version 0 (never written) after the key was written at 9_000.
    expect(check(0, 1, 9_000, 10_000)).toEqual({ result: 'stale', stalenessMs: 850 })
  })

  it('calls a version PostgreSQL does not hold stale, with no staleness figure', () => {
    expect(check(9, 8, 1_000, 10_000)).toEqual({ result: 'stale' })
  })

  it('errs towards less staleness by up to the round trip, never more', () => {
    // PostgreSQL read now() when the query arrived, not when its answer did: with a 40 ms
    // round trip the true staleness may be up to 40 ms more than reported, never less.
    const fast = check(3, 4, 9_700, 10_000, 150)
    const slow = check(3, 4, 9_700, 10_000 - 40, 150)
    expect(slow.stalenessMs).toBe((fast.stalenessMs as number) - 40)
  })
})

describe('consistency nines', () => {
  it('is -log10 of the stale share, null before a check, capped when nothing is stale', () => {
    expect(consistencyNines(0, 0)).toBeNull()
    expect(consistencyNines(1_000, 1)).toBe(3)
    expect(consistencyNines(2_000, 1)).toBe(3.3)
    expect(consistencyNines(10, 10)).toBe(0)
    expect(consistencyNines(10, 0)).toBe(MAX_NINES)
    expect(consistencyNines(1e9, 1)).toBe(MAX_NINES)
  })
})
