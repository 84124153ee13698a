import { OpenAPIHono } from '@hono/zod-openapi'
import { requestId } from 'hono/request-id'
import type { Deps } from './deps.js'
import { ApiError, sendError, toApiError } from './errors.js'
import { registerAdminRoutes } from './routes/admin.js'
import { registerDocsRoutes } from './routes/docs.js'
import { registerObservabilityRoutes } from './routes/observability.js'
import { registerRecordRoutes } from './routes/records.js'

/** Paths the API serves and the methods each allows, for 405 answers. */
const ALLOWED: Record<string, string> = {
  '/write': 'POST',
  '/delete': 'POST',
  '/clear-cache': 'POST',
  '/read/:key': 'GET, HEAD',
  '/cache-stats': 'GET, HEAD',
  '/health': 'GET, HEAD',
  '/health/live': 'GET, HEAD',
  '/health/ready': 'GET, HEAD',
  '/metrics': 'GET, HEAD',
  '/openapi.json': 'GET, HEAD',
  '/docs': 'GET, HEAD',
}

// Request ids from clients are echoed only when they look like ids, never arbitrary text.
const REQUEST_ID = /^[\w.:-]{1,128}$/

/** Builds the Hono app over its dependencies. No server is started: tests call `app.request()`. */
export function createApp(deps: Deps): OpenAPIHono {
  const { logger, metrics, env } = deps
  const app = new OpenAPIHono({
    // Validation failures become the API's own 400, naming the field.
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

  app.use(
    requestId({
      headerName: 'X-Request-Id',
      generator: () => crypto.randomUUID(),
      limitLength: 128,
    }),
  )
  app.use(async (c, next) => {
    const started = performance.now()
    await next()
    c.res.headers.set('X-Replica-Id', env.REPLICA_ID)
    const seconds = (performance.now() - started) / 1000
    const route = c.req.routePath
    metrics.observeRequest(route, c.req.method, c.res.status, seconds)
    if (env.ACCESS_LOG) {
      logger.info(
        {
          req_id: c.get('requestId'),
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          ms: Math.round(seconds * 100_000) / 100,
          cache_level: c.res.headers.get('X-Cache-Level') ?? undefined,
        },
        'request',
      )
    }
  })

  registerRecordRoutes(app, deps)
  registerAdminRoutes(app, deps)
  registerObservabilityRoutes(app, deps)
  registerDocsRoutes(app)

  for (const [path, allow] of Object.entries(ALLOWED)) {
    app.all(path, (c) => {
      c.header('Allow', allow)
      return sendError(
        c,
        'METHOD_NOT_ALLOWED',
        `${c.req.method} is not allowed on ${c.req.path}; use ${allow}`,
      )
    })
  }
  app.notFound((c) => sendError(c, 'NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`))
  app.onError((error, c) => {
    const apiError = toApiError(error)
    if (apiError.status >= 500) {
      logger.error({ err: error, req_id: c.get('requestId'), path: c.req.path }, apiError.message)
    }
    return sendError(c, apiError.code, apiError.message)
  })
  return app
}

export { REQUEST_ID }
