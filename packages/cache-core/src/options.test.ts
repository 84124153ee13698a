import { describe, expect, it } from 'vitest'
import { InvalidOptionError } from './errors.js'
import { resolveOptions } from './options.js'

const loader = async () => undefined

describe('resolveOptions', () => {
  it('fills the documented defaults', () => {
    const o = resolveOptions({ loader, redis: 'redis://x' })
    expect(o).toMatchObject({
      mode: 'multi',
      prefix: 'strata',
      l1: { maxEntries: 1000, maxBytes: undefined, ttl: 60_000 },
      l2: { ttl: 300_000, scripts: 'eval', fillLeaseWait: 50 },
      negativeTtl: 5_000,
      fenceTtl: 300_000,
      maxLocalFences: 10_000,
      redisCommandTimeout: 1_000,
      redisProbeInterval: 100,
      busLease: 60,
      heartbeatInterval: 1_000,
    })
    expect(o.instanceId).toMatch(/^[0-9a-f-]{36}$/)
  })

  it.each([
    ['l1.maxEntries', { l1: { maxEntries: 0 } }, 'expected a positive integer, got 0'],
    ['l1.ttl', { l1: { ttl: 1.5 } }, 'got 1.5'],
    ['l1.maxBytes', { l1: { maxBytes: -1 } }, 'got -1'],
    ['l2.ttl', { l2: { ttl: Number.NaN } }, 'got NaN'],
    ['l2.scripts', { l2: { scripts: 'lua' } }, 'one of eval, preloaded, got "lua"'],
    ['l2.fillLeaseWait', { l2: { fillLeaseWait: -1 } }, 'an integer ≥ 0'],
    ['mode', { mode: 'turbo' }, 'one of multi, l2, l1, none, got "turbo"'],
    ['prefix', { prefix: '' }, 'a non-empty string'],
    ['heartbeatInterval', { heartbeatInterval: -5 }, 'an integer ≥ 0'],
    ['instanceId', { instanceId: 'i'.repeat(241) }, 'at most 240 characters'],
    ['busLease', { busLease: 2.5 }, 'an integer ≥ 0'],
  ])('names %s and the bad value', (option, partial, message) => {
    const attempt = () => resolveOptions({ loader, redis: 'redis://x', ...(partial as object) })
    expect(attempt).toThrow(InvalidOptionError)
    expect(attempt).toThrow(`Invalid option "${option}"`)
    expect(attempt).toThrow(message)
  })

  it('requires Redis unless the mode is none', () => {
    expect(() => resolveOptions({ loader })).toThrow('Invalid option "redis"')
    expect(resolveOptions({ loader, mode: 'none' }).mode).toBe('none')
  })

  it('requires a loader', () => {
    // @ts-expect-error: the loader is deliberately missing
    expect(() => resolveOptions({ redis: 'redis://x' })).toThrow('Invalid option "loader"')
  })

  it('carries a stable error code', () => {
    try {
      resolveOptions({ loader, mode: 'none', l1: { ttl: 0 } })
    } catch (error) {
      expect((error as InvalidOptionError).code).toBe('E_INVALID_OPTION')
      expect((error as InvalidOptionError).option).toBe('l1.ttl')
    }
    expect.assertions(2)
  })
})
