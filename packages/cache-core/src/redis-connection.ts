import { Cluster, Redis, type RedisOptions } from 'ioredis'

/** Options of {@link connectRedis}. */
export interface RedisConnectionOptions {
  /**
   * Time limit of each command, in milliseconds; a slower Redis counts as down for that call.
   * @default 1_000
   */
  commandTimeout?: number
}

/**
 * The ioredis options every Strata command connection uses: fail fast while Redis is away, so a
 * read degrades to the next tier at once and a write is refused instead of waiting.
 */
export function commandConnectionOptions(options: RedisConnectionOptions = {}): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeout ?? 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 50, 1_000),
    // A command that timed out, or was in flight when the connection dropped, must not be sent
    // again after a reconnect: a late L2 set could land on a restarted, empty Redis (without the
    // fence that would have refused it), and its caller has long been told it failed.
    autoResendUnfulfilledCommands: false,
    // The ready check sends INFO, which a least-privilege ACL user should not be allowed; it only
    // matters while Redis loads a dataset from disk, and reads degrade meanwhile.
    enableReadyCheck: false,
  }
}

/**
 * Opens a command connection with Strata's fail-fast settings. Pass it to
 * `createTieredCache({ redis })` to share it with other commands of your own.
 * @example const redis = connectRedis(process.env.REDIS_URL, { commandTimeout: 500 })
 */
export function connectRedis(url: string, options: RedisConnectionOptions = {}): Redis {
  return new Redis(url, commandConnectionOptions(options))
}

/** Closes a connection politely, or at once when it cannot. */
export async function quitRedis(redis: Redis | Cluster | undefined): Promise<void> {
  await redis?.quit().catch(() => redis.disconnect())
}

/** Options of the subscriber connection, a `duplicate()` of the command connection. */
export const SUBSCRIBER_OPTIONS: RedisOptions = {
  // The bus resubscribes itself and empties L1 first: a silent resubscribe would hide a loss.
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
  enableOfflineQueue: false,
  retryStrategy: (attempt) => Math.min(attempt * 50, 1_000),
}

/**
 * Opens a Redis Cluster client with Strata's fail-fast settings, from seed node URLs
 * (`redis://[user:password@]host:port`; the first URL's user and password are used on every
 * node). Pass it as `createTieredCache({ redis })` to run the cache on the cluster.
 * @example const cluster = connectRedisCluster(process.env.REDIS_CLUSTER_NODES.split(','))
 */
export function connectRedisCluster(
  urls: readonly string[],
  options: RedisConnectionOptions = {},
): Cluster {
  if (urls.length === 0) throw new Error('connectRedisCluster needs at least one node URL')
  const seeds = urls.map((url) => new URL(url))
  const first = seeds[0] as URL
  const { retryStrategy: _perNode, ...perNode } = commandConnectionOptions(options)
  return new Cluster(
    seeds.map((seed) => ({ host: seed.hostname, port: Number(seed.port || 6379) })),
    {
      redisOptions: {
        ...perNode,
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
        ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
      },
      enableOfflineQueue: false,
      enableReadyCheck: false,
      // Fail fast, as on one server: a command whose connection closed (its master died) is not
      // tried again on whichever node the slot map names next, after a wait. Sent again, a write's
      // fence would hold its transaction (and the row's lock) for seconds of retries, and an L2
      // set from before a failover would land on the new master, which may lack the fence that
      // refused it. MOVED and ASK (a node alive and answering) are still followed, a few times.
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      maxRedirections: 4,
      // A failover or a slot migration is followed within this many milliseconds even when no
      // command has been redirected yet (the client's own default does not apply it).
      slotsRefreshInterval: 1_000,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 50, 1_000),
    },
  )
}

/**
 * A subscriber connection to one node of `cluster`, with its user and password and without
 * reconnects: the sharded bus replaces a lost one, on whichever node then serves its channels.
 */
export function connectClusterSubscriber(cluster: Cluster, host: string, port: number): Redis {
  const mapped = cluster.options.natMap
  const address =
    mapped && typeof mapped === 'object'
      ? (mapped[`${host}:${port}`] ?? { host, port })
      : { host, port }
  const { username, password, tls } = cluster.options.redisOptions ?? {}
  return new Redis({
    ...address,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls }),
    ...SUBSCRIBER_OPTIONS,
    enableReadyCheck: false,
    retryStrategy: () => null,
  })
}
