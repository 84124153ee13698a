import { describe, expect, it } from 'vitest'
import { History, readOutcomeOf, writeOutcomeOf } from './history.js'

describe('writeOutcomeOf', () => {
  it('classifies answers by what they promise about the data', () => {
    expect(writeOutcomeOf({ status: 200, version: 3 })).toBe('acked')
    // A 200 without a version cannot be checked against anything.
    expect(writeOutcomeOf({ status: 200 })).toBe('unknown')
    expect(writeOutcomeOf({ status: 503, code: 'CACHE_UNAVAILABLE' })).toBe('refused')
    expect(writeOutcomeOf({ status: 503, code: 'DATABASE_UNAVAILABLE' })).toBe('refused')
    expect(writeOutcomeOf({ status: 429, code: 'RATE_LIMITED' })).toBe('refused')
    expect(writeOutcomeOf({ status: 400, code: 'VALIDATION_FAILED' })).toBe('refused')
    // nginx's own errors: the replica may have committed before dying or going silent.
    expect(writeOutcomeOf({ status: 502, code: 'UPSTREAM_UNAVAILABLE' })).toBe('unknown')
    expect(writeOutcomeOf({ status: 503, code: 'UPSTREAM_UNAVAILABLE' })).toBe('unknown')
    expect(writeOutcomeOf({ status: 504 })).toBe('unknown')
    expect(writeOutcomeOf({ status: 0, code: 'ECONNRESET' })).toBe('unknown')
  })
})

describe('readOutcomeOf', () => {
  it('counts only a row or the API 404 as an answer', () => {
    expect(readOutcomeOf({ status: 200, version: 1 })).toBe('found')
    expect(readOutcomeOf({ status: 404, code: 'KEY_NOT_FOUND' })).toBe('not-found')
    expect(readOutcomeOf({ status: 404, code: 'NOT_FOUND' })).toBe('failed')
    expect(readOutcomeOf({ status: 503, code: 'DATABASE_UNAVAILABLE' })).toBe('failed')
    expect(readOutcomeOf({ status: 0, code: 'timeout' })).toBe('failed')
  })
})

describe('History', () => {
  it('stamps operations with its clock and counts those in flight', () => {
    let now = 10
    const history = new History({ clock: () => now })
    const write = history.beginWrite('k')
    now = 12
    const read = history.beginRead('k')
    expect(history.inFlight).toBe(2)
    now = 15
    history.completeRead(read, { status: 200, version: 1, replica: 'r2', cacheLevel: 'L2' })
    now = 20
    history.completeWrite(write, { status: 200, version: 2, replica: 'r1' })
    expect(history.inFlight).toBe(0)
    expect(history.writes).toEqual([
      expect.objectContaining({ id: 1, start: 10, end: 20, outcome: 'acked', version: 2 }),
    ])
    expect(history.reads).toEqual([
      expect.objectContaining({ id: 2, start: 12, end: 15, outcome: 'found', cacheLevel: 'L2' }),
    ])
  })

  it('keeps no version from an answer that was not a success', () => {
    const history = new History()
    const op = history.beginWrite('k')
    const write = history.completeWrite(op, { status: 503, version: 7, code: 'CACHE_UNAVAILABLE' })
    expect(write).toMatchObject({ outcome: 'refused', version: undefined })
  })
})
