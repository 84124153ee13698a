import { timingSafeEqual } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { adminTokenCheck } from './admin-token.js'

const TOKEN = 'admin-token-0123456789abcdef'

describe('adminTokenCheck', () => {
  it('accepts the token and refuses everything else', () => {
    const isAdmin = adminTokenCheck(TOKEN)
    expect(isAdmin(TOKEN)).toBe(true)
    for (const wrong of [
      '',
      'a',
      TOKEN.slice(0, -1),
      `${TOKEN}x`,
      `${TOKEN.slice(0, -1)}X`,
      TOKEN.toUpperCase(),
      'x'.repeat(10_000),
      'é'.repeat(TOKEN.length),
    ]) {
      expect(isAdmin(wrong), JSON.stringify(wrong.slice(0, 40))).toBe(false)
    }
  })

  it('compares every presented token, whatever its length, once and as two 32-byte digests', () => {
    const calls: Array<[number, number]> = []
    const isAdmin = adminTokenCheck(TOKEN, (a, b) => {
      calls.push([a.length, b.length])
      return timingSafeEqual(a, b)
    })
    // A length check before the comparison, or a comparison of the raw strings, would show here:
    // the short and long tokens would skip the comparison or compare buffers of other lengths.
    const presented = ['', 'x', TOKEN.slice(0, 8), TOKEN, `${TOKEN}${TOKEN}`, 'y'.repeat(4096)]
    for (const token of presented) isAdmin(token)
    expect(calls).toEqual(presented.map(() => [32, 32]))
  })
})
