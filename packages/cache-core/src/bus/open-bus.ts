import type { Cluster, Redis } from 'ioredis'
import type { Partitioning } from '../partitions.js'
import { connectClusterSubscriber, SUBSCRIBER_OPTIONS } from '../redis-connection.js'
import { type BusHandlers, type InvalidationBus, RedisBus } from './redis-bus.js'
import { ShardedBus } from './sharded-bus.js'

/** What every link of a bus shares. */
export interface LinkSettings {
  origin: string
  heartbeatInterval: number
  lease: number
}

/**
 * The bus for `redis`: on one server, one subscription (a `duplicate()` of the command
 * connection, returned so that its owner closes it) on classic pub/sub; on a cluster, a
 * {@link ShardedBus}, which opens and closes its own. `onError` hears every subscriber's errors.
 */
export function openBus(
  redis: Redis | Cluster,
  partitioning: Partitioning,
  link: LinkSettings,
  handlers: BusHandlers,
  onError: (error: Error) => void,
): { bus: InvalidationBus; subscriber: Redis | undefined } {
  if (!redis.isCluster) {
    const subscriber = (redis as Redis).duplicate(SUBSCRIBER_OPTIONS)
    subscriber.on('error', onError)
    const channels = new Map([[partitioning.channel(0), 0]])
    const options = { ...link, subscriber, publisher: redis, channels, sharded: false }
    return { bus: new RedisBus(options, handlers), subscriber }
  }
  const cluster = redis as Cluster
  const connect = (host: string, port: number) => {
    const subscriber = connectClusterSubscriber(cluster, host, port)
    subscriber.on('error', onError)
    return subscriber
  }
  const bus = new ShardedBus({ ...link, cluster, partitioning, connect }, handlers)
  return { bus, subscriber: undefined }
}
