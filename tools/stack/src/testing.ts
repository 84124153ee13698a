import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { Agent } from 'node:http'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Cluster, type ClusterOptions, startCluster } from './cluster.js'
import {
  type CacheMode,
  type LoadBalancing,
  type NginxLimits,
  type RedisTopology,
  resolveStackConfig,
  type StackConfig,
} from './config.js'
import { httpRequest } from './http.js'
import { freeStackPorts, portOptions } from './ports.js'

/** A stack owned by one test file, in its own temp directory and on free ports. */
export interface TestStack {
  cluster: Cluster
  config: StackConfig
  /** nginx's URL. */
  url: string
  replicaUrl(index: number): string
  /** Stops every component and removes the temp directory. */
  stop(): Promise<void>
}

/** A fresh data directory the `postgres` user and nginx's `nobody` workers can enter. */
export function makeDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-e2e-'))
  chmodSync(dir, 0o755)
  return dir
}

/** Replica environment for tests: the shell's, minus anything that would point at another stack. */
export function testEnvironment(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env }
  for (const name of [
    'DATABASE_URL',
    'REDIS_URL',
    'REDIS_CLUSTER_NODES',
    'ADMIN_TOKEN',
    'CACHE_MODE',
    'PORT',
    'REPLICA_ID',
  ])
    delete env[name]
  // vitest sets NODE_ENV=test; the replicas should run as they do for users.
  env.NODE_ENV = 'production'
  // One access-log line per request would cost a 2-core machine more than the tests themselves.
  env.ACCESS_LOG = 'false'
  return env
}

/** Options of {@link startTestStack}. */
export interface TestStackOptions {
  /** @default 'round-robin' */
  lb?: LoadBalancing
  /** @default 3 */
  replicas?: number
  /** @default 'multi' */
  mode?: CacheMode
  /** One Redis, or a Redis Cluster of 6 nodes. @default 'single' */
  redis?: RedisTopology
  /** Variables added to the replicas' environment (after {@link testEnvironment}). */
  env?: Readonly<Record<string, string>>
  /** Passed to the cluster: a reporter, a hook routing replicas through a proxy, … */
  cluster?: ClusterOptions
  /** nginx's limits; rate limits are off unless turned on here. */
  nginx?: Partial<NginxLimits>
}

/**
 * Starts PostgreSQL, Redis, `replicas` API replicas and nginx on free ports in a temp directory.
 * nginx's rate limits are off unless `nginx` turns them on: these tests drive load from one
 * address, and must not be throttled.
 */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const replicas = options.replicas ?? 3
  const dataDir = makeDataDir()
  const config = resolveStackConfig({
    dataDir,
    replicas,
    lb: options.lb ?? 'round-robin',
    mode: options.mode ?? 'multi',
    redisTopology: options.redis ?? 'single',
    ...portOptions(await freeStackPorts(replicas, undefined, options.redis)),
    durable: false,
    baseEnv: { ...testEnvironment(), ...options.env },
    nginx: { rateLimit: false, ...options.nginx },
  })
  let cluster: Cluster
  try {
    cluster = await startCluster(config, options.cluster)
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
  return {
    cluster,
    config,
    url: cluster.url,
    replicaUrl: (index) => cluster.replicaUrl(index),
    async stop() {
      await cluster.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** What a `GET /read/:key` answered. */
export interface ReadResult {
  status: number
  version: number | undefined
  value: string | undefined
  cacheLevel: string | null
  replica: string | null
}

/**
 * Connections kept open between the test requests, as a client of the stack would: a test's loop
 * of reads and writes does not open a socket per request.
 */
const keepAlive = new Agent({ keepAlive: true })

/** `GET <base>/read/<key>`; network errors are returned as status 0 so load loops can count them. */
export async function readKey(base: string, key: string): Promise<ReadResult> {
  try {
    const answer = await httpRequest(`${base}/read/${encodeURIComponent(key)}`, {
      agent: keepAlive,
    })
    const body = JSON.parse(answer.body) as { version?: number; value?: string }
    return {
      status: answer.status,
      version: body.version,
      value: body.value,
      cacheLevel: header(answer.headers['x-cache-level']),
      replica: header(answer.headers['x-replica-id']),
    }
  } catch {
    return { status: 0, version: undefined, value: undefined, cacheLevel: null, replica: null }
  }
}

const header = (value: string | string[] | undefined): string | null =>
  typeof value === 'string' ? value : null

/** What a `POST /write` answered. */
export interface WriteResult {
  status: number
  version: number | undefined
  replica: string | null
}

/** `POST <base>/write`; network errors are returned as status 0. */
export async function writeKey(base: string, key: string, value: string): Promise<WriteResult> {
  try {
    const answer = await httpRequest(`${base}/write`, {
      method: 'POST',
      json: { key, value },
      agent: keepAlive,
    })
    const body = JSON.parse(answer.body) as { version?: number }
    return {
      status: answer.status,
      version: body.version,
      replica: header(answer.headers['x-replica-id']),
    }
  } catch {
    return { status: 0, version: undefined, replica: null }
  }
}

/** Writes a key and fails the test unless the write was acknowledged; returns its version. */
export async function mustWrite(base: string, key: string, value: string): Promise<number> {
  const result = await writeKey(base, key, value)
  if (result.status !== 200 || result.version === undefined) {
    throw new Error(`write of ${key} via ${base} answered ${result.status}`)
  }
  return result.version
}

/** Polls `check` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

/**
 * Sends one command to Redis on 127.0.0.1:`port` as `user`, and returns Redis's first reply line
 * to it (`+OK`, `-NOPERM …`, `$5`, …); the AUTH reply comes first and is returned when it fails.
 */
export function redisReply(
  port: number,
  auth: { user: string; password: string },
  ...command: string[]
): Promise<string> {
  const resp = (...args: string[]) =>
    `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let text = ''
    socket.setTimeout(5_000, () => socket.destroy(new Error('no reply from Redis')))
    socket.on('connect', () =>
      socket.write(resp('AUTH', auth.user, auth.password) + resp(...command)),
    )
    socket.on('data', (chunk) => {
      text += chunk.toString()
      const lines = text.split('\r\n')
      if (lines[0] !== undefined && lines[0] !== '+OK' && lines.length > 1) {
        socket.destroy()
        resolve(lines[0])
      } else if (lines.length > 2) {
        socket.destroy()
        resolve(lines[1] as string)
      }
    })
    socket.on('error', reject)
  })
}
