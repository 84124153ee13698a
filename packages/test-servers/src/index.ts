export { type PostgresServer, startPostgresServer } from './postgres-server.js'
export { freePort, stopProcess, waitForPort } from './processes.js'
export { type RedisServer, startRedisServer } from './redis-server.js'
