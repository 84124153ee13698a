import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
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
      REDIS_SCRIPTS: 'eval',
      L1_CACHE_SIZE: 1000,
      L1_CACHE_TTL: 60,
      L2_CACHE_TTL: 300,
      DB_POOL_MAX_SIZE: 10,
      DB_QUERY_TIMEOUT: 2,
      MAX_VALUE_BYTES: 1_048_576,
      ACCESS_LOG: false,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5436/postgres',
      REDIS_URL: 'redis://127.0.0.1:6383',
    })
  })

  it('takes DB_QUERY_TIMEOUT in seconds, fractions included, and refuses 0', () => {
    const half = parseEnv({ DB_QUERY_TIMEOUT: '0.5' })
    expect(half.ok && half.env.DB_QUERY_TIMEOUT).toBe(0.5)
    const zero = parseEnv({ DB_QUERY_TIMEOUT: '0' })
    expect(zero.ok).toBe(false)
    if (!zero.ok) expect(zero.problems.join('\n')).toContain('DB_QUERY_TIMEOUT:')
  })

  it('reads REDIS_CLUSTER_NODES as a list of redis:// URLs, and refuses anything else in it', () => {
    const urls = ' redis://u:p@10.0.0.1:7000,redis://u:p@10.0.0.2:7000 ,'
    const result = parseEnv({ REDIS_CLUSTER_NODES: urls })
    expect(result.ok && result.env.REDIS_CLUSTER_NODES).toEqual([
      'redis://u:p@10.0.0.1:7000',
      'redis://u:p@10.0.0.2:7000',
    ])
    const single = parseEnv({})
    expect(single.ok && single.env.REDIS_CLUSTER_NODES).toBeUndefined()
    for (const bad of ['10.0.0.1:7000', 'redis://a:1,http://b:2', ' , ']) {
      const refused = parseEnv({ REDIS_CLUSTER_NODES: bad })
      expect(refused.ok, bad).toBe(false)
      if (!refused.ok) expect(refused.problems.join('\n')).toContain('REDIS_CLUSTER_NODES')
    }
  })

  it('names every bad variable at once, hiding secrets', () => {
    const result = parseEnv({
      PORT: 'eighty',
      CACHE_MODE: 'turbo',
      REDIS_SCRIPTS: 'lua',
      L1_CACHE_TTL: '-1',
      ADMIN_TOKEN: 'short',
      REDIS_URL: 'http://nope',
    })
    expect(result.ok).toBe(false)
    if (result.ok) return
    const text = result.problems.join('\n')
    const names = [
      'PORT',
      'CACHE_MODE',
      'REDIS_SCRIPTS',
      'L1_CACHE_TTL',
      'ADMIN_TOKEN',
      'REDIS_URL',
    ]
    for (const name of names) {
      expect(text).toContain(`${name}:`)
    }
    expect(text).toContain('"turbo"')
    expect(text).not.toContain('short')
  })

  it('takes an ADMIN_TOKEN only in the characters a bearer token may have', () => {
    for (const token of [
      'a'.repeat(16),
      'Az09._~+/-Az09._~+/-==',
      randomBytes(16).toString('base64'),
    ]) {
      expect(parseEnv({ ADMIN_TOKEN: token }).ok, token).toBe(true)
    }
    for (const token of [
      'has a space in it!',
      'quote"quote"quote',
      'ümlaut-ümlaut-ümlaut',
      '==padding-first-x',
    ]) {
      const result = parseEnv({ ADMIN_TOKEN: token })
      expect(result.ok, token).toBe(false)
      if (!result.ok) expect(result.problems.join('\n')).not.toContain(token)
    }
  })

  it('has no default secret: no token, and no password in the default URLs', () => {
    const result = parseEnv({})
    if (!result.ok) throw new Error(result.problems.join('\n'))
    expect(result.env.ADMIN_TOKEN).toBeUndefined()
    expect(new URL(result.env.DATABASE_URL).password).toBe('')
    expect(new URL(result.env.REDIS_URL).password).toBe('')
  })

  it('ships an .env.example that sets no secret', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
    const assignments = example
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split('=', 2) as [string, string])
    expect(Object.fromEntries(assignments)).toMatchObject({ ADMIN_TOKEN: '' })
    for (const [name, value] of assignments) {
      if (name.endsWith('_URL')) expect(new URL(value).password, name).toBe('')
    }
    // Every variable the example documents parses as it is written.
    expect(parseEnv(Object.fromEntries(assignments)).ok).toBe(true)
  })

  it('hides passwords of bad URLs in its messages', () => {
    const result = parseEnv({
      DATABASE_URL: 'postgres://strata:pg-s3cret@127.0.0.1:99999/strata',
      REDIS_URL: 'http://strata-api:redis-s3cret@127.0.0.1:6379',
    })
    expect(result.ok).toBe(false)
    if (result.ok) return
    const text = result.problems.join('\n')
    expect(text).toContain('DATABASE_URL:')
    expect(text).toContain('REDIS_URL:')
    expect(text).not.toContain('s3cret')
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
