import { createHash, timingSafeEqual } from 'node:crypto'
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../app.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
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

// Hashing both sides gives equal lengths, so the comparison time says nothing about the token.
const digest = (text: string) => createHash('sha256').update(text).digest()

/** `/clear-cache`. */
export function registerAdminRoutes(app: OpenAPIHono<AppEnv>, deps: Deps): void {
  const expected = deps.env.ADMIN_TOKEN === undefined ? undefined : digest(deps.env.ADMIN_TOKEN)

  app.openapi(clearRoute, async (c) => {
    if (!expected) throw new ApiError('ADMIN_DISABLED', 'Set ADMIN_TOKEN to enable /clear-cache')
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer\s+(.+)$/i.exec(header)
    if (!match?.[1] || !timingSafeEqual(digest(match[1].trim()), expected)) {
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
}
