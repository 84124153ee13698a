import { describe, expect, it } from 'vitest'
import { sharedFor } from './shared-result.js'

describe('sharedFor', () => {
  it('shares one call among callers while it is in flight and for ttlMs after', async () => {
    let calls = 0
    let finish: (value: number) => void = () => {}
    const shared = sharedFor(60_000, () => {
      calls++
      return new Promise<number>((resolve) => {
        finish = resolve
      })
    })
    const first = shared()
    const second = shared()
    finish(42)
    expect(await first).toBe(42)
    expect(await second).toBe(42)
    expect(await shared()).toBe(42)
    expect(calls).toBe(1)
  })

  it('calls again once the result is older than ttlMs, and shares failures the same way', async () => {
    let calls = 0
    const shared = sharedFor(0, async () => {
      calls++
      throw new Error(`failure ${calls}`)
    })
    await expect(shared()).rejects.toThrow('failure 1')
    await expect(shared()).rejects.toThrow('failure 2')
    expect(calls).toBe(2)
  })
})
