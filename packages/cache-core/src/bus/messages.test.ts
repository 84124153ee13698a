import { describe, expect, it } from 'vitest'
import { parseBusMessage } from './messages.js'

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
  ])('rejects %s', (_why, raw) => {
    expect(parseBusMessage(raw).ok).toBe(false)
  })
})
