import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { OpenAPIHono } from '@hono/zod-openapi'
import {
  freePort,
  type PostgresServer,
  type RedisServer,
  startPostgresServer,
  startRedisServer,
  stopProcess,
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
  /** `app.request` with a JSON body when `json` is given. */
  request(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>
  /** Sends a ready-made `Request` through the same entry point. */
  send(request: Request): Promise<Response>
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
  // Requests go through the same entry point the server uses: the L1 fast path, then the app.
  const { app, fetch } = createHandler(deps)
  const dispatch = (request: Request) => Promise.resolve(fetch(request))
  const send = (path: string, init: RequestInit) =>
    dispatch(new Request(`http://localhost${path}`, init))
  return {
    app,
    deps,
    send: dispatch,
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
    close: () => deps.close(),
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

/** A replica as deployed: `src/server.ts` in its own process, listening on a free port. */
export interface ApiProcess {
  child: ChildProcess
  port: number
  /** `http://127.0.0.1:<port>` */
  base: string
  /** Everything the process printed, in order. */
  output: string[]
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>
  /** SIGKILLs the process if it is still running. */
  kill(): Promise<void>
}

/** Starts a replica process over the test servers and resolves once `/health/ready` says 200. */
export async function startApiProcess(
  servers: Servers,
  env: Record<string, string> = {},
): Promise<ApiProcess> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: servers.postgres.url,
      REDIS_URL: servers.redis.url,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const deadline = Date.now() + 30_000
  for (;;) {
    const ready = await fetch(`${base}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ready) break
    if (Date.now() > deadline || child.exitCode !== null) {
      await stopProcess(child, 'SIGKILL')
      throw new Error(`the API process did not become ready:\n${output.join('')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return { child, port, base, output, exited, kill: () => stopProcess(child, 'SIGKILL') }
}
