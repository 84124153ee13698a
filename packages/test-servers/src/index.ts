export { type PostgresServer, startPostgresServer } from './postgres-server.js'
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
export { type RedisServer, startRedisServer } from './redis-server.js'
