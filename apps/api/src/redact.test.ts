import { describe, expect, it } from 'vitest'
import { redactSerializedError, redactUrl } from './redact.js'

describe('redactUrl', () => {
  it('hides the password and keeps what explains a failed login', () => {
    expect(redactUrl('redis://strata-api:s3cret@redis:6379')).toBe(
      'redis://strata-api:***@redis:6379',
    )
    expect(redactUrl('redis://:s3cret@127.0.0.1:6383/2')).toBe('redis://:***@127.0.0.1:6383/2')
    expect(redactUrl('postgres://strata:p%40ss@db:5432/strata?sslmode=require')).toBe(
      'postgres://strata:***@db:5432/strata?sslmode=require',
    )
    expect(redactUrl('postgres://db/strata?user=strata&password=s3cret')).toBe(
      'postgres://db/strata?user=strata&password=***',
    )
    expect(redactUrl('redis://127.0.0.1:6383')).toBe('redis://127.0.0.1:6383')
  })

  it('never echoes what it cannot parse', () => {
    expect(redactUrl('not a url with s3cret')).toBe('(unparseable URL)')
  })
})

describe('redactSerializedError', () => {
  it('replaces the arguments of credential commands, and of any command, in errors and causes', () => {
    const serialized = {
      message: 'outer',
      command: { name: 'get', args: ['strata:k:user', 'x'] },
      cause: { message: 'WRONGPASS', command: { name: 'auth', args: ['strata-api', 's3cret'] } },
    }
    expect(redactSerializedError(serialized)).toEqual({
      message: 'outer',
      command: { name: 'get', args: '[2 argument(s) not logged]' },
      cause: { message: 'WRONGPASS', command: { name: 'auth', args: '[redacted]' } },
    })
  })
})
