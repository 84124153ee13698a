// The public face of @strata/cache-core: what an application calls. Internals (option
// resolution, the bus and L2 wire formats, their size bounds) stay inside the package.

export {
  ClearError,
  ClosedError,
  InvalidationError,
  InvalidOptionError,
  ScriptNotLoadedError,
  StrataError,
} from './errors.js'
export type { CacheEvents } from './events.js'
export {
  type Absent,
  absent,
  type CacheLevel,
  type Found,
  type Loaded,
  type Loader,
  type Lookup,
  type Missing,
} from './lookup.js'
export {
  CACHE_MODES,
  type CacheMode,
  type L1Options,
  type L2Options,
  type Serializer,
  type TieredCacheOptions,
} from './options.js'
export {
  connectRedis,
  connectRedisCluster,
  type RedisConnectionOptions,
} from './redis-connection.js'
export { type CacheHealth, type CacheStats, percent } from './stats.js'
export type { L2Store } from './stores/l2-store.js'
export {
  loadScripts,
  SCRIPTS_MODES,
  type ScriptsMode,
  STRATA_SCRIPTS,
  type StrataScript,
} from './stores/redis-scripts.js'
export { createTieredCache, TieredCache } from './tiered-cache.js'
