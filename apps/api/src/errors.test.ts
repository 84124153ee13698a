import { readFileSync } from 'node:fs'
import { HTTPException } from 'hono/http-exception'
import { describe, expect, it } from 'vitest'
import { CommitOutcomeUnknownError, DatabaseUnavailableError } from './db/client.js'
import { DatabaseTimeoutError } from './db/deadline-socket.js'
import { VersionConflictError } from './db/records.js'
import { ERROR_STATUS, errorBody, toApiError } from './errors.js'

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

  it('answers a failure after COMMIT was sent with 504 OUTCOME_UNKNOWN, not 503', () => {
    const error = toApiError(new CommitOutcomeUnknownError(new DatabaseTimeoutError(2000)))
    expect(error.code).toBe('OUTCOME_UNKNOWN')
    expect(error.status).toBe(504)
  })

  it('answers a database deadline before COMMIT with 503 DATABASE_UNAVAILABLE', () => {
    expect(toApiError(new DatabaseTimeoutError(2000)).status).toBe(503)
    expect(toApiError(new DatabaseUnavailableError()).code).toBe('DATABASE_UNAVAILABLE')
  })

  it('answers a version conflict with 409 and the current version in the body', () => {
    const error = toApiError(new VersionConflictError('k', 1, 3))
    expect(error.status).toBe(409)
    expect(errorBody(error.code, error.message, error.fields)).toEqual({
      success: false,
      key: 'k',
      current_version: 3,
      error: { code: 'VERSION_CONFLICT', message: expect.stringContaining('version 3') },
    })
  })

  it('keeps unknown failures internal', () => {
    expect(toApiError(new Error('boom')).code).toBe('INTERNAL')
    expect(toApiError(new HTTPException(500)).code).toBe('INTERNAL')
  })
})

describe('the error table of docs/api.md', () => {
  it('lists every code the API answers with, at the status it answers', () => {
    const page = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8')
    const table = page.slice(page.indexOf('## Errors'), page.indexOf('## Metrics'))
    const documented = Object.fromEntries(
      [...table.matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
    )
    // INTERNAL is the one code that must never be seen; everything else is documented as sent.
    const { INTERNAL: _internal, ...sent } = ERROR_STATUS
    expect(documented).toEqual(sent)
  })
})
