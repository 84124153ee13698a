import { describe, expect, it } from 'vitest'
import {
  invalidationProblem,
  lagSeconds,
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

  it('keeps a publishedAt, and drops one it cannot read rather than the message', () => {
    const invalidate = { v: 1, type: 'invalidate', key: 'k', version: 3, origin: 'a' }
    const stamped = { ...invalidate, publishedAt: 1_700_000_000_000.25 }
    expect(parseBusMessage(JSON.stringify(stamped))).toEqual({ ok: true, message: stamped })
    for (const publishedAt of ['now', -5, null, 2 ** 60]) {
      const parsed = parseBusMessage(JSON.stringify({ ...invalidate, publishedAt }))
      expect(parsed).toEqual({ ok: true, message: invalidate })
    }
  })

  it('keeps a traceparent, and drops a malformed one rather than the message', () => {
    const invalidate = { v: 1, type: 'invalidate', key: 'k', version: 3, origin: 'a' }
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    const traced = { ...invalidate, traceparent }
    expect(parseBusMessage(JSON.stringify(traced))).toEqual({ ok: true, message: traced })
    // Without it (every message from before tracing) the message parses as it always did.
    expect(parseBusMessage(JSON.stringify(invalidate))).toEqual({ ok: true, message: invalidate })
    const malformed = ['', 'garbage', 7, null, `${traceparent}-extra`, traceparent.toUpperCase()]
    for (const value of malformed) {
      const parsed = parseBusMessage(JSON.stringify({ ...invalidate, traceparent: value }))
      expect(parsed).toEqual({ ok: true, message: invalidate })
    }
  })

  it('ignores fields it does not know, as releases from before publishedAt do with it', () => {
    const clear = { v: 1, type: 'clear', generation: 2, origin: 'a' }
    const later = { ...clear, addedByALaterRelease: { any: 'thing' } }
    expect(parseBusMessage(JSON.stringify(later))).toEqual({ ok: true, message: clear })
  })

  it('measures the lag from publishedAt, and a sender clock ahead as no lag', () => {
    expect(lagSeconds(undefined, 5_000)).toBeUndefined()
    expect(lagSeconds(1_000, 3_500)).toBe(2.5)
    expect(lagSeconds(4_000, 3_500)).toBe(0)
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
      publishedAt: Number.MAX_SAFE_INTEGER - 0.5,
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
