import type { OpenAPIHono } from '@hono/zod-openapi'
import { type SSEStreamingApi, streamSSE } from 'hono/streaming'
import type { AppEnv } from '../app-env.js'
import { streamingClient } from '../dashboard-feed.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { createRouter } from '../http/router.js'
import { ErrorResponse } from '../http/schemas.js'
import { DASHBOARD_PAGE } from './dashboard-page.js'

/**
 * The page may run only its own inline script and style and open its own event stream: a
 * browser enforces what the page's test checks, that nothing is fetched from elsewhere.
 */
const PAGE_POLICY =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * `/dashboard` and `/dashboard/events`. Like `/cache-stats` and `/metrics` they take no token:
 * they show counters and replica ids, no key, value or secret, and nginx hides them in compose
 * unless STRATA_EXPOSE_OPS=on (docs/security.md).
 */
export function dashboardRoutes(deps: Deps): OpenAPIHono<AppEnv> {
  const app = createRouter()
  const { dashboard, env } = deps

  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/dashboard',
    summary: 'Live dashboard: the cluster view, updated every second',
    description:
      'A self-contained HTML page (no external resource) fed by `/dashboard/events`: per replica requests/s, hit rates, bus state, invalidations, invalidation lag and the consistency SLI, with charts over the last 5 minutes.',
    responses: { 200: { description: 'The page', content: { 'text/html': { schema: {} } } } },
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/dashboard/events',
    summary: 'The cluster view as Server-Sent Events, one `view` event per second',
    description:
      'Each `view` event carries `{"replica_id": <this replica>, "cluster": <the cluster object of /cache-stats>}`. At most `DASHBOARD_MAX_CLIENTS` streams are open per replica.',
    responses: {
      200: {
        description: 'An endless event stream',
        content: { 'text/event-stream': { schema: {} } },
      },
      503: {
        description: 'DASHBOARD_FULL: as many streams as DASHBOARD_MAX_CLIENTS are open',
        content: { 'application/json': { schema: ErrorResponse } },
      },
    },
  })

  app.get('/dashboard', (c) => {
    c.header('Content-Security-Policy', PAGE_POLICY)
    c.header('Cache-Control', 'no-store')
    return c.html(DASHBOARD_PAGE)
  })

  app.get('/dashboard/events', (c) => {
    let stream: SSEStreamingApi | undefined
    let ended: () => void = () => {}
    const done = new Promise<void>((resolve) => {
      ended = resolve
    })
    const leave = dashboard.join(
      streamingClient(
        (view) =>
          stream
            ? stream.writeSSE({
                event: 'view',
                data: JSON.stringify({ replica_id: env.REPLICA_ID, cluster: view }),
              })
            : Promise.resolve(),
        () => ended(),
      ),
    )
    if (!leave) {
      throw new ApiError(
        'DASHBOARD_FULL',
        dashboard.closed
          ? 'This replica is shutting down; open the dashboard of another replica'
          : `This replica already serves ${env.DASHBOARD_MAX_CLIENTS} dashboard streams (DASHBOARD_MAX_CLIENTS); close one or try another replica`,
      )
    }
    // Tells nginx not to buffer the stream: each view is sent when it is written.
    c.header('X-Accel-Buffering', 'no')
    const signal = c.req.raw.signal
    return streamSSE(c, async (opened) => {
      stream = opened
      opened.onAbort(ended)
      signal.addEventListener('abort', ended, { once: true })
      if (signal.aborted) ended()
      await done
      leave()
    })
  })
  return app
}
