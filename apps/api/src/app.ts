import { createServer, type RequestListener, type Server } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { methodNotAllowed } from 'hono/method-not-allowed'
import type { AppEnv } from './app-env.js'
import type { Deps } from './deps.js'
import { failureAnswer, sendError } from './errors.js'
import { withFastRead } from './http/fast-read.js'
import { answerMalformedRequests, unparsableRequestHandler } from './http/malformed-request.js'
import { recordRequest, requestIdFor } from './http/observe.js'
import { createRouter } from './http/router.js'
import { adminRoutes } from './routes/admin.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { registerDocsRoutes } from './routes/docs.js'
import { observabilityRoutes } from './routes/observability.js'
import { recordRoutes } from './routes/records.js'

/** Builds the Hono app over its dependencies. No server is started: tests call `app.request()`. */
export function createApp(deps: Deps): OpenAPIHono<AppEnv> {
  const { logger, metrics, env } = deps
  const app = createRouter()
  if (deps.tracing) app.use(deps.tracing.route)

  app.use(async (c, next) => {
    const startedAt = performance.now()
    const requestId = requestIdFor(c.req.header('x-request-id'))
    c.set('requestId', requestId)
    // Headers are set before the handler runs: touching c.res afterwards would turn the node
    // adapter's light response into a full Response object, which costs throughput.
    c.header('X-Request-Id', requestId)
    c.header('X-Replica-Id', env.REPLICA_ID)
    await next()
    recordRequest(metrics, env.ACCESS_LOG ? logger : undefined, {
      requestId,
      method: c.req.method,
      path: c.req.path,
      route: c.req.routePath,
      status: c.res.status,
      startedAt,
      cacheLevel: c.get('cacheLevel'),
    })
  })

  // A path the API serves, with a method it does not: 405 with `Allow`, the methods taken from
  // the routes themselves (so a new route needs no second list).
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const allow = methods.join(', ')
        c.header('Allow', allow)
        return sendError(
          c,
          'METHOD_NOT_ALLOWED',
          `${c.req.method} is not allowed on ${c.req.path}; use ${allow}`,
        )
      },
    }),
  )

  app.route('/', recordRoutes(deps))
  app.route('/', adminRoutes(deps))
  app.route('/', observabilityRoutes(deps))
  app.route('/', dashboardRoutes(deps))
  // Last: the spec it serves is generated from every route mounted above.
  registerDocsRoutes(app)

  app.notFound((c) => sendError(c, 'NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`))
  app.onError((error, c) => {
    const apiError = failureAnswer(error, logger, c.get('requestId'), c.req.path)
    return sendError(c, apiError.code, apiError.message, apiError.fields)
  })
  return app
}

/**
 * What the node server runs: `GET /read/{key}` answered at the node listener (`http/fast-read.ts`),
 * the app (through @hono/node-server's adapter) for everything else. The adapter gets no default host:
 * a request without a valid `Host` cannot be built, and its error handler answers it with the
 * API's JSON 400, as it does every other request it cannot build.
 */
export function createHandler(deps: Deps): { app: OpenAPIHono<AppEnv>; listener: RequestListener } {
  const app = createApp(deps)
  const errorHandler = unparsableRequestHandler(deps.logger, deps.env.REPLICA_ID)
  const served = withFastRead(deps, getRequestListener(app.fetch, { errorHandler }))
  // Wrapped only when tracing is on: off, requests reach the fast path exactly as before.
  const listener = deps.tracing ? deps.tracing.listener(served) : served
  return { app, listener }
}

/**
 * The node HTTP server a replica runs, not yet listening: the handler's listener, plus JSON
 * answers for requests that never reach it (unparsable bytes, oversized headers, `CONNECT`,
 * odd `Expect`s). Node's own Host check is off because it answers a bare 400; the adapter makes
 * that check instead.
 */
export function createApiServer(deps: Deps): { app: OpenAPIHono<AppEnv>; server: Server } {
  const { app, listener } = createHandler(deps)
  const server = createServer({ requireHostHeader: false }, listener)
  answerMalformedRequests(server, deps.env.REPLICA_ID)
  return { app, server }
}
