import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { OpenAPIHono } from '@hono/zod-openapi'
import {
  type PostgresServer,
  type RedisServer,
  startPostgresServer,
  startRedisServer,
} from '@strata/test-servers'
import { pino } from 'pino'
import { type AppEnv, createHandler } from '../src/app.js'
import { migrate } from '../src/db/migrate.js'
import { createDeps, type Deps } from '../src/deps.js'
import { parseEnv } from '../src/env.js'

/** The real PostgreSQL and Redis a test file runs against, started on free ports. */
export interface Servers {
  postgres: PostgresServer
  redis: RedisServer
  stop(): Promise<void>
}

export async function startServers(): Promise<Servers> {
  const [postgres, redis] = await Promise.all([startPostgresServer(), startRedisServer()])
  return {
    postgres,
    redis,
    stop: async () => {
      await Promise.all([postgres.stop(), redis.stop()])
    },
  }
}

/** One replica of the API in-process: the Hono app over real PostgreSQL and Redis. */
export interface TestReplica {
  app: OpenAPIHono<AppEnv>
  deps: Deps
  /** Where the replica's HTTP server listens: the server's own listener, on loopback. */
  url: string
  /** `app.request` (in-process, through the router) with a JSON body when `json` is given. */
  request(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>
  /** A request over a real socket to the listener the server runs (the L1 fast path first). */
  overSocket(path: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789'

/** Starts a replica: env parsed like production, schema migrated, bus subscribed. */
export async function startReplica(
  servers: Servers,
  env: Record<string, string> = {},
  logLines?: string[],
): Promise<TestReplica> {
  const parsed = parseEnv({
    DATABASE_URL: servers.postgres.url,
    REDIS_URL: servers.redis.url,
    REPLICA_ID: `replica-${Math.random().toString(36).slice(2, 8)}`,
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    ...env,
  })
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
  const logger = logLines
    ? pino({ level: 'info' }, { write: (line: string) => logLines.push(line) })
    : pino({ level: 'silent' })
  const deps = createDeps(parsed.env, logger)
  await migrate(deps.db.sql)
  deps.lifecycle.migrated = true
  if (parsed.env.CACHE_MODE !== 'none' && !(await deps.cache.whenReady(10_000))) {
    throw new Error('the cache did not come online')
  }
  // The server's own listener (the L1 fast path at the node level, then the app through
  // @hono/node-server's adapter) on a real socket, beside the in-process app.
  const { app, listener } = createHandler(deps)
  const server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const send = (path: string, init: RequestInit) => Promise.resolve(app.request(path, init))
  return {
    app,
    deps,
    url,
    overSocket: (path, init) => requestOverSocket(url, path, init),
    request: (path, init = {}) => {
      const { json, ...rest } = init
      if (json === undefined) return send(path, rest)
      return send(path, {
        method: 'POST',
        ...rest,
        headers: { 'Content-Type': 'application/json', ...(rest.headers ?? {}) },
        body: JSON.stringify(json),
      })
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await deps.close()
    },
  }
}

/** Reads a key and returns the parsed body with the status and cache headers. */
export async function read(replica: TestReplica, key: string) {
  const response = await replica.request(`/read/${encodeURIComponent(key)}`)
  const body = (await response.json()) as Record<string, unknown>
  return {
    status: response.status,
    level: response.headers.get('X-Cache-Level'),
    replicaId: response.headers.get('X-Replica-Id'),
    body,
  }
}

/** Writes a key and returns the new version (throws on anything but 200). */
export async function write(replica: TestReplica, key: string, value: string): Promise<number> {
  const response = await replica.request('/write', { json: { key, value } })
  const body = (await response.json()) as { version: number }
  if (response.status !== 200)
    throw new Error(`write failed: ${response.status} ${JSON.stringify(body)}`)
  return body.version
}

/**
 * One request on a fresh connection to a real server, as a Response. node:http sends the
 * request target as given (fetch would resolve dot segments first), and a fresh connection per
 * request means one the server closes after an early answer (a 413 mid-upload) is never reused.
 */
export function requestOverSocket(
  base: string,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const { hostname, port } = new URL(base)
  const method = init.method ?? 'GET'
  const headers = Object.fromEntries(new Headers(init.headers))
  return new Promise((resolve, reject) => {
    let answered = false
    const request = httpRequest({ hostname, port, path, method, headers, agent: false }, (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const responseHeaders = new Headers()
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          responseHeaders.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string)
        const status = res.statusCode ?? 0
        const empty = method === 'HEAD' || status === 204 || status === 304
        resolve(
          new Response(empty ? null : Buffer.concat(chunks), { status, headers: responseHeaders }),
        )
      })
    })
    // The server may stop reading an upload it refuses: once answered, the upload's fate is moot.
    request.on('error', (error) => {
      if (!answered) reject(error)
    })
    const body = init.body
    if (body === undefined || body === null) request.end()
    else if (typeof body === 'string' || body instanceof Uint8Array) request.end(body)
    else if (body instanceof ReadableStream) {
      const reader = (body as ReadableStream<Uint8Array>).getReader()
      const pump = async (): Promise<void> => {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          if (!request.write(value)) await new Promise((r) => request.once('drain', r))
        }
        request.end()
      }
      pump().catch((error: unknown) => request.destroy(error as Error))
    } else reject(new TypeError('requestOverSocket: unsupported body type'))
  })
}
