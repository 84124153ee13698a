/** Per-request values shared between middleware and handlers: the Hono `Env` of every route. */
export type AppEnv = { Variables: { requestId: string; cacheLevel?: string } }
