import { describe, expect, it } from 'vitest'
import { parseEnv } from './env.js'

describe('parseEnv', () => {
  it('fills the defaults of the original design', () => {
    const result = parseEnv({})
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.env).toMatchObject({
      PORT: 8080,
      CACHE_MODE: 'multi',
      L1_CACHE_SIZE: 1000,
      L1_CACHE_TTL: 60,
      L2_CACHE_TTL: 300,
      DB_POOL_MAX_SIZE: 10,
      MAX_VALUE_BYTES: 1_048_576,
      ACCESS_LOG: false,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5436/postgres',
      REDIS_URL: 'redis://127.0.0.1:6383',
    })
  })

  it('names every bad variable at once, hiding secrets', () => {
    const result = parseEnv({
      PORT: 'eighty',
      CACHE_MODE: 'turbo',
      L1_CACHE_TTL: '-1',
      ADMIN_TOKEN: 'short',
      REDIS_URL: 'http://nope',
    })
    expect(result.ok).toBe(false)
    if (result.ok) return
    const text = result.problems.join('\n')
    for (const name of ['PORT', 'CACHE_MODE', 'L1_CACHE_TTL', 'ADMIN_TOKEN', 'REDIS_URL']) {
      expect(text).toContain(`${name}:`)
    }
    expect(text).toContain('"turbo"')
    expect(text).not.toContain('short')
  })

  it('treats empty variables as unset', () => {
    const result = parseEnv({ ADMIN_TOKEN: '', PORT: '' })
    expect(result.ok && result.env.ADMIN_TOKEN).toBeUndefined()
  })

  it('accepts DB_POOL_MIN_SIZE but not above the maximum', () => {
    expect(parseEnv({ DB_POOL_MIN_SIZE: '2' }).ok).toBe(true)
    expect(parseEnv({ DB_POOL_MIN_SIZE: '20', DB_POOL_MAX_SIZE: '5' }).ok).toBe(false)
  })

  it('parses boolean flags', () => {
    const result = parseEnv({ ACCESS_LOG: 'true' })
    expect(result.ok && result.env.ACCESS_LOG).toBe(true)
  })
})
