import { createRoute, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { adminTokenCheck } from '../admin-token.js'
import type { AppEnv } from '../app-env.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { createRouter } from '../http/router.js'
import { ErrorResponse, json, MessageResponse } from '../http/schemas.js'

/**
 * Who may clear. Without ADMIN_TOKEN: nobody (403 `ADMIN_DISABLED`, before any header is read).
 * Otherwise Hono's bearer-auth reads the header and `adminTokenCheck` compares the token in
 * constant time. Every refusal (no header, one that is not `Bearer <token>`, a wrong token) is
 * the API's own 401 `UNAUTHORIZED`, thrown to the error handler rather than bearer-auth's plain
 * text 400 or 401, so a client cannot tell them apart.
 */
function adminOnly(adminToken: string | undefined): MiddlewareHandler<AppEnv> {
  if (adminToken === undefined) {
    return () => {
      throw new ApiError('ADMIN_DISABLED', 'Set ADMIN_TOKEN to enable /clear-cache')
    }
  }
  const isAdmin = adminTokenCheck(adminToken)
  const refuse = (c: Context): never => {
    c.header('WWW-Authenticate', 'Bearer')
    throw new ApiError(
      'UNAUTHORIZED',
      'A valid "Authorization: Bearer <ADMIN_TOKEN>" header is required',
    )
  }
  return bearerAuth({
    verifyToken: (token) => isAdmin(token),
    noAuthenticationHeader: { message: refuse },
    invalidAuthenticationHeader: { message: refuse },
    invalidToken: { message: refuse },
  })
}

const clearRoute = (adminToken: string | undefined) =>
  createRoute({
    method: 'post',
    path: '/clear-cache',
    summary: 'Empty every replica L1 and L2',
    description:
      'Requires `Authorization: Bearer $ADMIN_TOKEN`; refused when no token is configured.',
    security: [{ adminToken: [] }],
    responses: {
      200: json(MessageResponse, 'Cleared'),
      401: json(ErrorResponse, 'Missing or wrong token'),
      403: json(ErrorResponse, 'No ADMIN_TOKEN is configured on this replica'),
      503: json(ErrorResponse, 'Redis unavailable'),
    },
    middleware: [adminOnly(adminToken)],
  })

/** `/clear-cache`. */
export function adminRoutes(deps: Deps): OpenAPIHono<AppEnv> {
  const app = createRouter()
  app.openapi(clearRoute(deps.env.ADMIN_TOKEN), async (c) => {
    await deps.cache.clear()
    deps.logger.info('cache cleared cluster-wide')
    return c.json({ success: true as const, message: 'Cleared L1 on every replica and L2' }, 200)
  })
  return app
}
