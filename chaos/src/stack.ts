import { cpSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Cluster } from '@strata/stack/cluster'
import type { RedisTopology } from '@strata/stack/config'
import type { Reporter } from '@strata/stack/reporter'
import { startTestStack } from '@strata/stack/testing'
import { startTcpProxy, type TcpProxy } from '@strata/testkit'
import { StackRedis } from './redis-cluster.js'

/** Replicas in every chaos stack: enough for "the writer" and "the others" to both be plural. */
export const REPLICAS = 3

/**
 * What the replicas of a chaos stack run with, on top of the test defaults (production logging,
 * no access log). This is the one place where the chaos runs configure the replicas; nginx's rate
 * limits, which would throttle a load sent from one address, are off in every test stack.
 */
const CHAOS_STACK_ENV: Readonly<Record<string, string>> = {
  // State changes (bus down/up, Redis unavailable) are worth keeping in the replica logs.
  LOG_LEVEL: 'info',
  // Every read may be checked by the consistency SLI (each replica still checks at most
  // CONSISTENCY_CHECKS_PER_SECOND, 20): a fault's run is too short for the default 1% to show much.
  CONSISTENCY_SAMPLE_SHARE: '1',
}

/** A replica's link to a backend, which a chaos stack can route through a {@link TcpProxy}. */
export type Link = 'redis' | 'postgres'

/** Options of {@link startChaosStack}. */
export interface ChaosStackOptions {
  /**
   * The links to put a {@link TcpProxy} on, one per replica and link, so latency, stalls and cuts
   * can be injected on every replica's link or on one. Empty: the replicas connect directly.
   */
  proxies: readonly Link[]
  /**
   * Query parameters added to the replicas' PostgreSQL URL when that link is proxied; postgres.js
   * reads them as options (`{ prepare: 'false' }`).
   * @default none
   */
  postgresUrlParams?: Readonly<Record<string, string>>
  /** One Redis server, or a Redis Cluster (3 masters, 3 replicas). @default 'single' */
  redis?: RedisTopology
  /** Environment of every replica, beside the chaos defaults. @default none */
  env?: Readonly<Record<string, string>>
  /** Where the stack reports its start-up. */
  reporter?: Reporter
}

/** A throw-away stack on free ports, with handles for injecting faults. */
export interface ChaosStack {
  cluster: Cluster
  /** nginx. */
  url: string
  replicaUrl(index: number): string
  /** Replica `index`'s process id (changes when it is restarted). */
  replicaPid(index: number): number
  /**
   * Redis itself (not a proxy), as its admin user: faults need `CLIENT LIST` and `CLIENT KILL`.
   * On a cluster, its first node's.
   */
  redisUrl: string
  /** Which Redis the stack runs. */
  topology: RedisTopology
  /** The Redis server, or the cluster's nodes `redis-1` to `redis-6`, to act on (kill, freeze, migrate). */
  redisServers: StackRedis
  databaseUrl: string
  /** `proxies.redis[i - 1]` sits between replica `i` and Redis; a link not proxied has none. */
  proxies: Record<Link, TcpProxy[]>
  /** Stops everything and removes the stack's directory; its logs are copied first if asked. */
  stop(options?: { keepLogsIn?: string | undefined }): Promise<void>
}

/**
 * A reporter that keeps the stack's warnings — a component exiting on its own, such as a
 * crashed replica — so the run can fail on them, and shows each as it happens.
 */
export function crashRecorder(show: (message: string) => void): {
  reporter: Reporter
  crashes: string[]
} {
  const crashes: string[] = []
  const reporter: Reporter = {
    step: () => {},
    info: () => {},
    warn: (message) => {
      crashes.push(message)
      show(message)
    },
  }
  return { reporter, crashes }
}

/** `url` with its host and port replaced, credentials and database number kept, `params` added. */
function viaProxy(
  url: string,
  port: number,
  params: Readonly<Record<string, string>> = {},
): string {
  const parsed = new URL(url)
  parsed.hostname = '127.0.0.1'
  parsed.port = String(port)
  for (const [name, value] of Object.entries(params)) parsed.searchParams.set(name, value)
  return parsed.toString()
}

/** Starts PostgreSQL, Redis (or a Redis Cluster), 3 replicas and nginx on free ports in a temporary directory. */
export async function startChaosStack(options: ChaosStackOptions): Promise<ChaosStack> {
  const proxies: Record<Link, TcpProxy[]> = { redis: [], postgres: [] }
  const all = () => [...proxies.redis, ...proxies.postgres]
  /** The proxy of replica `index`'s `link` (made on its first start, kept across restarts). */
  const proxyOf = async (link: Link, index: number, url: string) => {
    let proxy = proxies[link][index - 1]
    if (!proxy) {
      const target = new URL(url)
      const port = Number(target.port || (link === 'redis' ? 6379 : 5432))
      proxy = await startTcpProxy({ target: { host: target.hostname, port } })
      proxies[link][index - 1] = proxy
    }
    return viaProxy(url, proxy.port, link === 'postgres' ? options.postgresUrlParams : {})
  }
  const topology = options.redis ?? 'single'
  const stack = await startTestStack({
    replicas: REPLICAS,
    redis: topology,
    env: { ...CHAOS_STACK_ENV, ...options.env },
    cluster: {
      ...(options.reporter ? { reporter: options.reporter } : {}),
      ...(options.proxies.length > 0
        ? {
            replicaBackends: async (backends, index) => ({
              ...backends,
              ...(options.proxies.includes('redis')
                ? { redisUrl: await proxyOf('redis', index, backends.redisUrl) }
                : {}),
              ...(options.proxies.includes('postgres')
                ? { databaseUrl: await proxyOf('postgres', index, backends.databaseUrl) }
                : {}),
            }),
          }
        : {}),
    },
  }).catch(async (error: unknown) => {
    await Promise.all(all().map((proxy) => proxy.close()))
    throw error
  })
  const { cluster } = stack
  return {
    cluster,
    url: stack.url,
    replicaUrl: (index) => stack.replicaUrl(index),
    replicaPid(index) {
      const pid = cluster.component(`replica-${index}`)?.pid
      if (pid === undefined) throw new Error(`replica-${index} is not part of this stack`)
      return pid
    },
    redisUrl: cluster.backends.adminRedisUrl,
    topology,
    redisServers: new StackRedis(cluster),
    databaseUrl: cluster.backends.databaseUrl,
    proxies,
    async stop(options = {}) {
      // Released first, so nothing held by a stall keeps a replica from shutting down.
      for (const proxy of all()) proxy.resume()
      const logs = join(stack.config.dataDir, 'logs')
      if (options.keepLogsIn) {
        // After the stack has stopped, so the logs are complete; before its directory goes.
        await cluster.stop()
        mkdirSync(options.keepLogsIn, { recursive: true })
        cpSync(logs, options.keepLogsIn, { recursive: true })
      }
      await stack.stop()
      await Promise.all(all().map((proxy) => proxy.close()))
    },
  }
}
