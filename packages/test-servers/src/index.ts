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
  portIsFree,
  postgresBinDirs,
  type RunAs,
  stopProcess,
  waitForPort,
} from './processes.js'
export { type RedisAclUser, redisUrlFor, redisUserDirective } from './redis-acl.js'
export {
  CLUSTER_BUS_OFFSET,
  freeClusterPorts,
  type RedisCluster,
  type RedisClusterNode,
  type RedisClusterOptions,
  startRedisCluster,
} from './redis-cluster.js'
export {
  type ClusterNodeEntry,
  type ClusterNodeSettings,
  clusterNodeDirectives,
  clusterNodes,
  clusterProblem,
  createCluster,
  expandSlots,
  liveMasters,
  type MigrateSlotsOptions,
  migrateSlots,
  parseClusterNodes,
  type RedisAdminAuth,
  waitForHealthyCluster,
  withNode,
} from './redis-cluster-admin.js'
export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server.js'
export { SERVER_SUITE_SETTINGS } from './vitest-settings.js'
