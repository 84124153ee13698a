import { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env.js'
import { ApiError } from '../errors.js'

/**
 * A router whose validation failures become the API's own 400, naming the field: the app and
 * each group of routes (`routes/*.ts`, mounted with `app.route()`) are built with it.
 */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return
      const issue = result.error.issues[0]
      const field = issue?.path.length ? `${issue.path.join('.')}: ` : ''
      const message =
        issue?.code === 'unrecognized_keys'
          ? `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
          : (issue?.message ?? 'invalid input')
      throw new ApiError('VALIDATION_FAILED', `${field}${message}`)
    },
  })
}
