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
