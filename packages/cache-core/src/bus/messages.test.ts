import { describe, expect, it } from 'vitest'
import {
  invalidationProblem,
  MAX_BUS_MESSAGE_LENGTH,
  MAX_KEY_LENGTH,
  MAX_ORIGIN_LENGTH,
  parseBusMessage,
} from './messages.js'

describe('parseBusMessage', () => {
  it('accepts an invalidate and a clear message', () => {
    const invalidate = { v: 1, type: 'invalidate', key: 'k', version: 3, origin: 'a' }
    const clear = { v: 1, type: 'clear', generation: 2, origin: 'a' }
    expect(parseBusMessage(JSON.stringify(invalidate))).toEqual({ ok: true, message: invalidate })
    expect(parseBusMessage(JSON.stringify(clear))).toEqual({ ok: true, message: clear })
  })

  it.each([
    ['not JSON', '{'],
    [
      'an unknown format version',
      JSON.stringify({ v: 2, type: 'clear', generation: 1, origin: 'a' }),
    ],
    ['an unknown type', JSON.stringify({ v: 1, type: 'boom', origin: 'a' })],
    [
      'a fractional version',
      JSON.stringify({ v: 1, type: 'invalidate', key: 'k', version: 1.5, origin: 'a' }),
    ],
    [
      'an empty key',
      JSON.stringify({ v: 1, type: 'invalidate', key: '', version: 1, origin: 'a' }),
    ],
    ['a missing origin', JSON.stringify({ v: 1, type: 'invalidate', key: 'k', version: 1 })],
    ['an array', '[]'],
    [
      'a key over MAX_KEY_LENGTH code points',
      JSON.stringify({
        v: 1,
        type: 'invalidate',
        key: '😀'.repeat(MAX_KEY_LENGTH + 1),
        version: 1,
        origin: 'a',
      }),
    ],
    [
      'an origin over MAX_ORIGIN_LENGTH code points',
      JSON.stringify({
        v: 1,
        type: 'clear',
        generation: 1,
        origin: 'o'.repeat(MAX_ORIGIN_LENGTH + 1),
      }),
    ],
    [
      'a version past Number.MAX_SAFE_INTEGER',
      JSON.stringify({ v: 1, type: 'invalidate', key: 'k', version: 2 ** 53, origin: 'a' }),
    ],
  ])('rejects %s', (_why, raw) => {
    expect(parseBusMessage(raw).ok).toBe(false)
  })

  it('does not parse a payload over MAX_BUS_MESSAGE_LENGTH', () => {
    const padded = `${JSON.stringify({ v: 1, type: 'clear', generation: 1, origin: 'a' })}${' '.repeat(MAX_BUS_MESSAGE_LENGTH)}`
    expect(parseBusMessage(padded)).toEqual({
      ok: false,
      error: `longer than ${MAX_BUS_MESSAGE_LENGTH} characters`,
    })
  })

  it('accepts the longest key and origin, even fully JSON-escaped', () => {
    const message = {
      v: 1,
      type: 'invalidate',
      key: '\u0001'.repeat(MAX_KEY_LENGTH),
      version: Number.MAX_SAFE_INTEGER,
      origin: '\u0001'.repeat(MAX_ORIGIN_LENGTH),
    }
    expect(parseBusMessage(JSON.stringify(message))).toEqual({ ok: true, message })
  })

  it('says why an invalidation could not travel', () => {
    expect(invalidationProblem('k', 3)).toBeUndefined()
    expect(invalidationProblem('😀'.repeat(MAX_KEY_LENGTH), 0)).toBeUndefined()
    expect(invalidationProblem('', 1)).toMatch(/^key: /)
    expect(invalidationProblem('k'.repeat(MAX_KEY_LENGTH + 1), 1)).toMatch(/^key: /)
    for (const version of [-1, 1.5, 2 ** 53, Number.NaN]) {
      expect(invalidationProblem('k', version)).toMatch(/^version: /)
    }
  })
})
