import { ClearError, InvalidationError } from '@strata/cache-core'
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { CommitOutcomeUnknownError, DatabaseUnavailableError } from './db/client.js'
import { DatabaseTimeoutError } from './db/deadline-socket.js'
import { VersionConflictError } from './db/records.js'
import type { Logger } from './logger.js'

/** Every error code the API answers with, and its HTTP status. One table, one place. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  INVALID_UTF8: 400,
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  ADMIN_DISABLED: 403,
  KEY_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  VERSION_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  EXPECTATION_FAILED: 417,
  REQUEST_HEADER_TOO_LARGE: 431,
  CACHE_UNAVAILABLE: 503,
  DASHBOARD_FULL: 503,
  DATABASE_UNAVAILABLE: 503,
  INTERNAL: 500,
  // Not 503: a write answered this way may have committed, so it must not be retried blindly.
  OUTCOME_UNKNOWN: 504,
} as const satisfies Record<string, ContentfulStatusCode>

export type ErrorCode = keyof typeof ERROR_STATUS

/** An error with a stable code; the status comes from {@link ERROR_STATUS}. */
export class ApiError extends Error {
  /** Top-level fields the error body carries beside `error` (e.g. `current_version`). */
  readonly fields: Record<string, unknown> | undefined

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; fields?: Record<string, unknown> },
  ) {
    super(message, options)
    this.fields = options?.fields
    this.name = 'ApiError'
  }

  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code]
  }
}

/** The JSON body of every error. */
export const errorBody = (code: ErrorCode, message: string, fields?: Record<string, unknown>) => ({
  success: false as const,
  ...fields,
  error: { code, message },
})

/** Answers an error as JSON. */
export const sendError = (
  c: Context,
  code: ErrorCode,
  message: string,
  fields?: Record<string, unknown>,
) => c.json(errorBody(code, message, fields), ERROR_STATUS[code])

/** postgres.js and socket errors that mean the database is unreachable or refusing work. */
function isDatabaseError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  return (
    error.name === 'PostgresError' ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'CONNECT_TIMEOUT' ||
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_ENDED' ||
    code === 'CONNECTION_DESTROYED' ||
    code === 'EAI_AGAIN' ||
    code === 'ENOTFOUND'
  )
}

// What a status thrown by Hono or a middleware (an HTTPException) means in the API's codes.
const CODE_FOR_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
}

/** Maps anything thrown by a handler to an ApiError: the only place that decides statuses. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  if (error instanceof HTTPException) {
    // A refusal by the framework is still a refusal: its status, with the API's code and shape.
    const code = CODE_FOR_STATUS[error.status]
    if (code)
      return new ApiError(code, error.message || `Refused with ${error.status}`, { cause: error })
  }
  if (error instanceof InvalidationError || error instanceof ClearError) {
    return new ApiError('CACHE_UNAVAILABLE', `${error.message}; nothing was changed`, {
      cause: error,
    })
  }
  if (error instanceof VersionConflictError) {
    return new ApiError('VERSION_CONFLICT', error.message, {
      cause: error,
      fields: { key: error.key, current_version: error.current },
    })
  }
  if (error instanceof CommitOutcomeUnknownError) {
    return new ApiError(
      'OUTCOME_UNKNOWN',
      'The database connection failed after COMMIT was sent: the write may or may not have ' +
        'been applied. Read the key, or retry with expected_version, before writing it again',
      { cause: error },
    )
  }
  if (
    isDatabaseError(error) ||
    error instanceof DatabaseUnavailableError ||
    error instanceof DatabaseTimeoutError
  ) {
    return new ApiError('DATABASE_UNAVAILABLE', 'The database is unavailable; try again shortly', {
      cause: error,
    })
  }
  return new ApiError('INTERNAL', 'Internal error', { cause: error })
}

/**
 * The ApiError a request that failed with `error` is answered with; a failure on the server's
 * side (5xx) is logged with the request's id and path first. The router's `onError` and the
 * listener's read path (`http/fast-read.ts`) both answer failures through it.
 */
export function failureAnswer(
  error: unknown,
  logger: Logger,
  requestId: string | undefined,
  path: string,
): ApiError {
  const apiError = toApiError(error)
  if (apiError.status >= 500) {
    logger.error({ err: error, req_id: requestId, path }, apiError.message)
  }
  return apiError
}
