import { readFileSync } from 'node:fs'
import { HTTPException } from 'hono/http-exception'
import { describe, expect, it } from 'vitest'
import { ERROR_STATUS, toApiError } from './errors.js'

describe('toApiError', () => {
  it.each([
    [400, 'VALIDATION_FAILED'],
    [401, 'UNAUTHORIZED'],
    [404, 'NOT_FOUND'],
    [405, 'METHOD_NOT_ALLOWED'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [415, 'UNSUPPORTED_MEDIA_TYPE'],
  ] as const)('maps a framework refusal with status %i to %s, not to a 500', (status, code) => {
    const error = toApiError(new HTTPException(status, { message: 'refused' }))
    expect(error.code).toBe(code)
    expect(ERROR_STATUS[error.code]).toBe(status)
  })

  it('keeps unknown failures internal', () => {
    expect(toApiError(new Error('boom')).code).toBe('INTERNAL')
    expect(toApiError(new HTTPException(500)).code).toBe('INTERNAL')
  })
})

describe('the README error table', () => {
  it('lists every code the API answers with, at the status it answers', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
    const table = readme.slice(readme.indexOf('### Errors'), readme.indexOf('### Metrics'))
    const documented = Object.fromEntries(
      [...table.matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
    )
    // INTERNAL is the one code that must never be seen; everything else is documented as sent.
    const { INTERNAL: _internal, ...sent } = ERROR_STATUS
    expect(documented).toEqual(sent)
  })
})
