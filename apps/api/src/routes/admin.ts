import { createRoute, type OpenAPIHono } from '@hono/zod-openapi'
import { adminTokenCheck, bearerToken } from '../admin-token.js'
import type { AppEnv } from '../app-env.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { createRouter } from '../http/router.js'
import { ErrorResponse, MessageResponse } from '../http/schemas.js'

const json = <T>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})

const clearRoute = createRoute({
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
})

/** `/clear-cache`. */
export function adminRoutes(deps: Deps): OpenAPIHono<AppEnv> {
  const app = createRouter()
  const isAdmin =
    deps.env.ADMIN_TOKEN === undefined ? undefined : adminTokenCheck(deps.env.ADMIN_TOKEN)

  app.openapi(clearRoute, async (c) => {
    if (!isAdmin) throw new ApiError('ADMIN_DISABLED', 'Set ADMIN_TOKEN to enable /clear-cache')
    // A missing header is checked like any wrong token: one path for every refusal.
    if (!isAdmin(bearerToken(c.req.header('authorization')))) {
      c.header('WWW-Authenticate', 'Bearer')
      throw new ApiError(
        'UNAUTHORIZED',
        'A valid "Authorization: Bearer <ADMIN_TOKEN>" header is required',
      )
    }
    await deps.cache.clear()
    deps.logger.info('cache cleared cluster-wide')
    return c.json({ success: true as const, message: 'Cleared L1 on every replica and L2' }, 200)
  })
  return app
}
