import { Redis, type RedisOptions } from 'ioredis'

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

/** Options of the subscriber connection, a `duplicate()` of the command connection. */
export const SUBSCRIBER_OPTIONS: RedisOptions = {
  // The bus resubscribes itself and empties L1 first: a silent resubscribe would hide a loss.
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
  enableOfflineQueue: false,
  retryStrategy: (attempt) => Math.min(attempt * 50, 1_000),
}
