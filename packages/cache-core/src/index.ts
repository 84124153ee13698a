export type { BusMessage, ClearMessage, InvalidateMessage } from './bus/messages.js'
export {
  MAX_BUS_MESSAGE_LENGTH,
  MAX_KEY_LENGTH,
  MAX_ORIGIN_LENGTH,
  parseBusMessage,
} from './bus/messages.js'
export type { BusState } from './bus/redis-bus.js'
export {
  type Absent,
  absent,
  type CacheLevel,
  type Found,
  type L2Record,
  type Loaded,
  type Loader,
  type Lookup,
  type Missing,
} from './entry.js'
export {
  ClearError,
  ClosedError,
  InvalidationError,
  InvalidOptionError,
  StrataError,
} from './errors.js'
export type { CacheEvents } from './events.js'
export {
  CACHE_MODES,
  type CacheMode,
  type L1Options,
  type L2Options,
  resolveOptions,
  type Serializer,
  type TieredCacheOptions,
} from './options.js'
export { connectRedis, type RedisConnectionOptions } from './redis-connection.js'
export { type CacheStats, percent } from './stats.js'
export type { L2Store } from './stores/l2-store.js'
export { type CacheHealth, createTieredCache, TieredCache } from './tiered-cache.js'
