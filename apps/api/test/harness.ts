import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { loadScripts } from '@strata/cache-core'
import {
  freePort,
  type PostgresServer,
  type RedisCluster,
  type RedisServer,
  type RedisServerOptions,
  startPostgresServer,
  startRedisCluster,
  startRedisServer,
  stopProcess,
} from '@strata/test-servers'
import { Redis } from 'ioredis'
import { afterAll } from 'vitest'
import { createApiServer } from '../src/app.js'
import type { AppEnv } from '../src/app-env.js'
import { migrate } from '../src/db/migrate.js'
import { createDeps, type Deps, type TestOnlySettings } from '../src/deps.js'
import { parseEnv } from '../src/env.js'
import { createLogger } from '../src/logger.js'

/** The real PostgreSQL and Redis a test file runs against, started on free ports. */
export interface Servers {
  postgres: PostgresServer
  redis: RedisServer
  /** A Redis Cluster (3 masters, 3 replicas) the replicas use instead, when asked for. */
  redisCluster?: RedisCluster
  stop(): Promise<void>
}

/** How the test servers authenticate; by default they accept anyone on loopback. */
export interface ServerOptions {
  /** Password of PostgreSQL's `postgres` user (scram-sha-256). */
  postgresPassword?: string
  /** Password and ACL users of Redis. */
  redis?: RedisServerOptions
  /** Runs the replicas on a Redis Cluster (REDIS_CLUSTER_NODES). */
  redisCluster?: boolean
}

export async function startServers(options: ServerOptions = {}): Promise<Servers> {
  const [postgres, redis, redisCluster] = await Promise.all([
    startPostgresServer(
      options.postgresPassword === undefined ? {} : { password: options.postgresPassword },
    ),
    startRedisServer(options.redis),
    options.redisCluster ? startRedisCluster() : undefined,
  ])
  return {
    postgres,
    redis,
    ...(redisCluster ? { redisCluster } : {}),
    stop: async () => {
      await Promise.all([postgres.stop(), redis.stop(), redisCluster?.stop()])
    },
  }
}

/** What `startCluster` started for a test file. */
export interface Cluster<Replicas extends TestReplica[]> {
  servers: Servers
  /** One replica a given environment, in the order given. */
  replicas: Replicas
}

/**
 * Starts PostgreSQL, Redis and one replica per `envs` entry (in order) and stops them all after
 * the file's last test: the set-up of most test files, called at their top level.
 * @example const { replicas: [a, b] } = await startCluster({ REPLICA_ID: 'a' }, { REPLICA_ID: 'b' })
 */
export async function startCluster<const Envs extends Array<Record<string, string>>>(
  ...envs: Envs
): Promise<Cluster<{ -readonly [K in keyof Envs]: TestReplica }>> {
  return startClusterOn({}, ...envs)
}

/** {@link startCluster} on servers started with `options` (a Redis Cluster, credentials). */
export async function startClusterOn<const Envs extends Array<Record<string, string>>>(
  options: ServerOptions,
  ...envs: Envs
): Promise<Cluster<{ -readonly [K in keyof Envs]: TestReplica }>> {
  const servers = await startServers(options)
  const replicas: TestReplica[] = []
  let stopped: Promise<void> | undefined
  // Once only, whichever of the hook and the failed start below asks first.
  const stop = () => {
    stopped ??= Promise.all(replicas.map((replica) => replica.close())).then(() => servers.stop())
    return stopped
  }
  afterAll(stop)
  try {
    for (const env of envs) replicas.push(await startReplica(servers, env))
  } catch (error) {
    // Thrown while the file is collected, after which vitest may run no hook of the file.
    await stop()
    throw error
  }
  return { servers, replicas: replicas as { -readonly [K in keyof Envs]: TestReplica } }
}

/** One replica of the API in-process: the Hono app over real PostgreSQL and Redis. */
export interface TestReplica {
  app: OpenAPIHono<AppEnv>
  deps: Deps
  /** Where the replica's HTTP server listens: the server's own listener, on loopback. */
  url: string
  /** `app.request` (in-process, through the router) with a JSON body when `json` is given. */
  request(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>
  /** Sends a ready-made `Request` to the in-process app (through the router). */
  send(request: Request): Promise<Response>
  /** A request over a real socket to the listener the server runs (the L1 fast path first). */
  overSocket(path: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789'

/**
 * Starts a replica: env parsed like production, schema migrated, bus subscribed. `testOnly`
 * breaks it on purpose in ways no environment variable can ({@link TestOnlySettings}).
 */
export async function startReplica(
  servers: Servers,
  env: Record<string, string> = {},
  logLines?: string[],
  testOnly?: TestOnlySettings,
): Promise<TestReplica> {
  const parsed = parseEnv({
    DATABASE_URL: servers.postgres.url,
    REDIS_URL: servers.redis.url,
    REPLICA_ID: `replica-${Math.random().toString(36).slice(2, 8)}`,
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    // A lease of a second: tests assert which tier answered, and on a busy machine a heartbeat
    // can come back later than the 60 ms default allows, pausing L1 (rightly). The lease itself
    // is tested in cache-core and, at its default, under faults in chaos/.
    BUS_LEASE: '1',
    ...(servers.redisCluster
      ? { REDIS_CLUSTER_NODES: servers.redisCluster.seeds().join(',') }
      : {}),
    ...env,
  })
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
  // The replica's own logger, writing into `logLines` when the test wants to read them.
  const logger = createLogger(
    {
      ...parsed.env,
      LOG_LEVEL: !logLines ? 'silent' : env.LOG_LEVEL === undefined ? 'info' : parsed.env.LOG_LEVEL,
    },
    { write: (line: string) => logLines?.push(line) },
  )
  const deps = createDeps(parsed.env, logger, testOnly)
  await migrate(deps.db.sql)
  deps.lifecycle.migrated = true
  if (parsed.env.CACHE_MODE !== 'none' && !(await deps.cache.whenReady(10_000))) {
    throw new Error('the cache did not come online')
  }
  // The server's own listener (the L1 fast path at the node level, then the app through
  // @hono/node-server's adapter) on a real socket, beside the in-process app.
  const { app, server } = createApiServer(deps)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const dispatch = (request: Request) => Promise.resolve(app.fetch(request))
  const send = (path: string, init: RequestInit) =>
    dispatch(new Request(`http://localhost${path}`, init))
  return {
    app,
    deps,
    url,
    send: dispatch,
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

/** Polls `check` every 20 ms until it passes (no throw); rethrows its failure after `timeoutMs`. */
export async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

/** The ACL rules of Strata's API user in Redis, as deploy/redis/api-user.acl writes them. */
export const API_USER_ACL_RULES = readFileSync(
  new URL('../../../deploy/redis/api-user.acl', import.meta.url),
  'utf8',
)
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
  .join(' ')

/** The real server entry point (`src/server.ts`) running in a child process. */
export interface ServerProcess {
  child: ChildProcess
  /** Everything it printed so far (stdout and stderr). */
  output(): string
  /** Resolves with its exit code once it has exited and its output has ended. */
  exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): void
}

/** Starts `src/server.ts` as production runs it, with only the given environment (plus PATH). */
export function spawnServer(env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  // 'close', not 'exit': it comes after the output streams have ended.
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve(code))
  })
  return { child, output: () => output, exited, kill: (signal = 'SIGTERM') => child.kill(signal) }
}

/**
 * Runs the server until it exits on its own, for start-up failures; returns its exit code and
 * everything it printed. A server still running after `timeoutMs` is killed (code null).
 */
export async function runServerUntilExit(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  const server = spawnServer(env)
  const timer = setTimeout(() => server.kill('SIGKILL'), timeoutMs)
  const code = await server.exited
  clearTimeout(timer)
  return { code, output: server.output() }
}

/** A random secret, labelled so a failure message says which one leaked. */
export const randomSecret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`

/** The random credentials of a {@link startSecuredServers} setup. */
export interface TestSecrets {
  postgresPassword: string
  /** Redis's `default` user. */
  redisAdminPassword: string
  /** Redis's `strata-api` user, limited by deploy/redis/api-user.acl. */
  apiPassword: string
}

/**
 * PostgreSQL with a password (scram-sha-256), and Redis with a password plus Strata's API user
 * `strata-api` under the project's ACL rules, Strata's Lua scripts loaded by `default` (that user
 * may only run them by SHA: give its replicas {@link PRELOADED_SCRIPTS}): the servers as the
 * local stack and compose run them.
 */
export async function startSecuredServers(): Promise<{ servers: Servers; secrets: TestSecrets }> {
  const secrets: TestSecrets = {
    postgresPassword: randomSecret('pg'),
    redisAdminPassword: randomSecret('redis-admin'),
    apiPassword: randomSecret('redis-api'),
  }
  const servers = await startServers({
    postgresPassword: secrets.postgresPassword,
    redis: {
      password: secrets.redisAdminPassword,
      users: [{ name: 'strata-api', password: secrets.apiPassword, rules: API_USER_ACL_RULES }],
    },
  })
  const admin = new Redis(servers.redis.url)
  try {
    await loadScripts(admin)
  } finally {
    admin.disconnect()
  }
  return { servers, secrets }
}

/** The environment of a replica that logs in as `strata-api`, which may not EVAL. */
export const PRELOADED_SCRIPTS = { REDIS_SCRIPTS: 'preloaded' } as const

/** A replica as deployed: `src/server.ts` in its own process, listening on a free port. */
export interface ApiProcess extends ServerProcess {
  port: number
  /** `http://127.0.0.1:<port>` */
  base: string
  /** SIGKILLs the process if it is still running. */
  stop(): Promise<void>
}

/** Starts a replica process over the test servers and resolves once `/health/ready` says 200. */
export async function startApiProcess(
  servers: Servers,
  env: Record<string, string> = {},
): Promise<ApiProcess> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const server = spawnServer({
    PORT: String(port),
    DATABASE_URL: servers.postgres.url,
    REDIS_URL: servers.redis.url,
    LOG_LEVEL: 'warn',
    ...env,
  })
  const deadline = Date.now() + 30_000
  for (;;) {
    const ready = await fetch(`${base}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ready) break
    if (Date.now() > deadline || server.child.exitCode !== null) {
      await stopProcess(server.child, 'SIGKILL')
      throw new Error(`the API process did not become ready:\n${server.output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return { ...server, port, base, stop: () => stopProcess(server.child, 'SIGKILL') }
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
