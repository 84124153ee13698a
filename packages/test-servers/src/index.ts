export {
  type PostgresServer,
  type PostgresServerOptions,
  startPostgresServer,
} from './postgres-server.js'
export {
  findBinary,
  freePort,
  isRoot,
  lookupUser,
  postgresBinDirs,
  type RunAs,
  stopProcess,
  waitForPort,
} from './processes.js'
export { type RedisAclUser, redisUrlFor, redisUserDirective } from './redis-acl.js'
export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server.js'
export { SERVER_SUITE_SETTINGS } from './vitest-settings.js'
