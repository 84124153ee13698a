import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Cluster, type ClusterOptions, isPortFree, startCluster } from './cluster.js'
import {
  type LoadBalancing,
  type NginxLimits,
  resolveStackConfig,
  type StackConfig,
} from './config.js'

/** The ports a test stack binds, all free when chosen. */
export interface StackPorts {
  nginxPort: number
  replicaPortBase: number
  redisPort: number
  postgresPort: number
}

/**
 * Free ports for a whole stack; the replicas need `replicas` consecutive ones. They are drawn
 * below Linux's ephemeral range (32768+), where the kernel picks the source ports of outgoing
 * connections: a port chosen there could be taken by a replica's connection to Redis before
 * nginx gets to bind it.
 */
export async function freeStackPorts(replicas: number): Promise<StackPorts> {
  const taken = new Set<number>()
  const pickRun = async (length: number): Promise<number> => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const base = 15_000 + Math.floor(Math.random() * (32_000 - 15_000 - length))
      const run = Array.from({ length }, (_, i) => base + i)
      if (run.some((port) => taken.has(port))) continue
      const free = await Promise.all(run.map((port) => isPortFree(port)))
      if (!free.every(Boolean)) continue
      for (const port of run) taken.add(port)
      return base
    }
    throw new Error(`found no ${length} consecutive free ports between 15000 and 32000`)
  }
  return {
    replicaPortBase: await pickRun(replicas),
    nginxPort: await pickRun(1),
    redisPort: await pickRun(1),
    postgresPort: await pickRun(1),
  }
}

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
    ...(await freeStackPorts(replicas)),
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

/** `GET <base>/read/<key>`; network errors are returned as status 0 so load loops can count them. */
export async function readKey(base: string, key: string): Promise<ReadResult> {
  try {
    const response = await fetch(`${base}/read/${encodeURIComponent(key)}`)
    const body = (await response.json()) as { version?: number; value?: string }
    return {
      status: response.status,
      version: body.version,
      value: body.value,
      cacheLevel: response.headers.get('x-cache-level'),
      replica: response.headers.get('x-replica-id'),
    }
  } catch {
    return { status: 0, version: undefined, value: undefined, cacheLevel: null, replica: null }
  }
}

/** What a `POST /write` answered. */
export interface WriteResult {
  status: number
  version: number | undefined
  replica: string | null
}

/** `POST <base>/write`; network errors are returned as status 0. */
export async function writeKey(base: string, key: string, value: string): Promise<WriteResult> {
  try {
    const response = await fetch(`${base}/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key, value }),
    })
    const body = (await response.json()) as { version?: number }
    return {
      status: response.status,
      version: body.version,
      replica: response.headers.get('x-replica-id'),
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
 * True while a process runs. Independent of the stack's own bookkeeping on purpose: a zombie
 * (exited, waiting for its parent to collect it) counts as gone.
 */
export function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** Live processes whose process group is `pgid` (a component and its children: nginx workers, PostgreSQL backends). */
export function liveGroupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        return Number(pgrp) === pgid && state !== 'Z' && state !== 'X'
      } catch {
        return false
      }
    })
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

/** The command lines of a process and every live member of its group, for secrets in `ps`. */
export function commandLines(pids: readonly number[]): string[] {
  const lines: string[] = []
  for (const pid of new Set(pids.flatMap((leader) => [leader, ...liveGroupMembers(leader)]))) {
    try {
      lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '))
    } catch {
      // Gone since listed.
    }
  }
  return lines
}
