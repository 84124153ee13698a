import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findBinary, portIsFree, serverProcess, spawnAs } from './processes.js'
import { type RedisAclUser, redisUrlFor } from './redis-acl.js'
import {
  clusterNodeDirectives,
  clusterNodes,
  createCluster,
  liveMasters,
  type MigrateSlotsOptions,
  migrateSlots,
  type RedisAdminAuth,
  waitForHealthyCluster,
  withNode,
} from './redis-cluster-admin.js'

/** The shape of a test's Redis Cluster and how its nodes authenticate clients. */
export interface RedisClusterOptions {
  /** @default 3 */
  masters?: number
  /** @default 1 */
  replicasPerMaster?: number
  /** `cluster-node-timeout`: a killed master is failed over about twice this later. @default 1000 */
  nodeTimeoutMs?: number
  /** Password of the `default` user on every node. @default undefined: anyone may connect */
  password?: string
  /** More ACL users, the same on every node, as startRedisServer's. @default [] */
  users?: readonly RedisAclUser[]
}

/** One redis-server of a test's cluster. Its role changes with failovers: ask `role()`. */
export interface RedisClusterNode {
  readonly port: number
  /** The `default` user's URL of this node. */
  readonly url: string
  /** False between `kill()`/`stop()` and `restart()`. */
  readonly running: boolean
  /** What the node says it is now (`ROLE`). */
  role(): Promise<'master' | 'replica'>
  /** Kills the node with SIGKILL, as a crash would. */
  kill(): Promise<void>
  /** Shuts the node down gracefully. */
  stop(): Promise<void>
  /** Starts it again (stopping it first if it runs): same port and node id, no data. */
  restart(): Promise<void>
}

/** A Redis Cluster owned by a test: every node on free loopback ports, removed by `stop()`. */
export interface RedisCluster {
  /** Masters first, in the order `redis-cli --cluster create` paired them with replicas. */
  readonly nodes: readonly RedisClusterNode[]
  /** The URLs of every node, as `user` (default: the admin), for REDIS_CLUSTER_NODES. */
  seeds(user?: string): string[]
  /** The `default` user's URL of the node on `port`. */
  adminUrl(port: number): string
  /** The masters now, as a running node sees them (failed ones left out). */
  masters(): Promise<RedisClusterNode[]>
  /**
   * Resolves once every running node says cluster_state:ok and serves every slot, they agree on
   * the slot map, and every replica is linked to its master; rejects after `timeoutMs`.
   */
  waitUntilHealthy(timeoutMs?: number): Promise<void>
  /** Moves `count` slots, keys included, from one master to another; resolves when healthy. */
  migrateSlots(
    fromPort: number,
    toPort: number,
    count: number,
    options?: MigrateSlotsOptions,
  ): Promise<number[]>
  /** Kills every node and removes their directories. */
  stop(): Promise<void>
}

/** Cluster nodes need two ports each: `port` for clients and `port + 10000` for the bus. */
export const CLUSTER_BUS_OFFSET = 10_000

/**
 * Where cluster ports are picked: clients in [10000, 20000), so the bus ports are in
 * [20000, 30000), all below the kernel's ephemeral range (32768+). There, every `listen(0)` and
 * outgoing connection of the other test suites running at the same time takes its ports: a node
 * killed by a test would free its port for one of them, and its restart would then find another
 * server on it (a cluster that never became healthy again in CI).
 */
const LOWEST_CLUSTER_PORT = 10_000
const CLUSTER_PORT_SPAN = 10_000

/** `count` distinct free ports whose bus ports are free too, below the ephemeral range. */
export async function freeClusterPorts(count: number): Promise<number[]> {
  const taken = new Set<number>()
  const ports: number[] = []
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt > 1_000) throw new Error('found no free port pairs for a Redis Cluster')
    const port = LOWEST_CLUSTER_PORT + Math.floor(Math.random() * CLUSTER_PORT_SPAN)
    const bus = port + CLUSTER_BUS_OFFSET
    if (taken.has(port) || taken.has(bus)) continue
    if (!(await portIsFree(port)) || !(await portIsFree(bus))) continue
    ports.push(port)
    taken.add(port)
    taken.add(bus)
  }
  return ports
}

const INSTALL_HINT = 'redis-server not found. Install it with: sudo apt-get install -y redis-server'

/**
 * Starts a throw-away Redis Cluster (3 masters and 3 replicas by default) on free loopback
 * ports, in memory only, with a short node timeout so failovers take a few seconds; resolves
 * once it is healthy. Each node keeps its `nodes.conf` in its own temp dir, so a restarted node
 * rejoins as itself.
 * @example const cluster = await startRedisCluster(); afterAll(() => cluster.stop())
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const binary = findBinary('redis-server', ['/usr/sbin', '/usr/local/bin'])
  if (!binary) throw new Error(INSTALL_HINT)
  const masters = options.masters ?? 3
  const replicasPerMaster = options.replicasPerMaster ?? 1
  const users = options.users ?? []
  const admin: RedisAdminAuth | undefined =
    options.password === undefined ? undefined : { user: 'default', password: options.password }
  const directives = clusterNodeDirectives({
    nodeTimeoutMs: options.nodeTimeoutMs ?? 1_000,
    admin,
    users,
  })
  const root = mkdtempSync(join(tmpdir(), 'strata-redis-cluster-'))
  const adminUrl = (port: number) =>
    admin ? redisUrlFor(port, admin.user, admin.password) : `redis://127.0.0.1:${port}`
  const ports = await freeClusterPorts(masters * (1 + replicasPerMaster))
  const nodes = ports.map((port) => clusterNode(binary, port, join(root, String(port)), directives))
  const byPort = (port: number) => {
    const node = nodes.find((candidate) => candidate.port === port)
    if (!node) throw new Error(`no node of this cluster listens on ${port}`)
    return node
  }
  const runningPorts = () => nodes.filter((node) => node.running).map((node) => node.port)
  const waitUntilHealthy = (timeoutMs?: number) =>
    waitForHealthyCluster(runningPorts(), admin, timeoutMs)
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.kill()))
    rmSync(root, { recursive: true, force: true })
  }

  try {
    await Promise.all(nodes.map((node) => node.restart()))
    await createCluster(ports, replicasPerMaster, admin)
  } catch (error) {
    await stop()
    throw error
  }
  return {
    nodes,
    seeds(user) {
      if (user === undefined) return ports.map(adminUrl)
      const found = users.find((candidate) => candidate.name === user)
      if (!found) throw new Error(`no Redis user ${JSON.stringify(user)} was configured`)
      return ports.map((port) => redisUrlFor(port, found.name, found.password))
    },
    adminUrl,
    async masters() {
      const [port] = runningPorts()
      if (port === undefined) throw new Error('no node of this cluster is running')
      const entries = await withNode(port, admin, clusterNodes)
      return liveMasters(entries).map((entry) => byPort(entry.port))
    },
    waitUntilHealthy,
    async migrateSlots(fromPort, toPort, count, migrateOptions) {
      const slots = await migrateSlots(fromPort, toPort, count, admin, migrateOptions)
      await waitUntilHealthy()
      return slots
    },
    stop,
  }

  /** One node: its config is written before each start and removed once it runs. */
  function clusterNode(
    binary: string,
    port: number,
    dir: string,
    directives: readonly string[],
  ): RedisClusterNode {
    const server = serverProcess('redis-server (cluster node)', port, 15_000)
    let running = false
    const halt = async (signal: NodeJS.Signals) => {
      await server.halt(signal)
      running = false
    }
    return {
      port,
      url: adminUrl(port),
      get running() {
        return running
      },
      async role() {
        const [role] = (await withNode(port, admin, (node) => node.call('ROLE'))) as [string]
        return role === 'master' ? 'master' : 'replica'
      },
      kill: () => halt('SIGKILL'),
      stop: () => halt('SIGTERM'),
      async restart() {
        await halt('SIGTERM')
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        // The password of `masterauth` is in clear: the file lives only while the node starts.
        const file = join(dir, 'redis.conf')
        writeFileSync(file, `${directives.join('\n')}\n`, { mode: 0o600 })
        const args = [file, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir]
        try {
          await server.start(() => spawnAs(undefined, binary, args))
          running = true
        } finally {
          rmSync(file, { force: true })
        }
      },
    }
  }
}
