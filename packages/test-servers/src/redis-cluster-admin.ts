import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { findBinary } from './processes.js'
import { type RedisAclUser, redisUserDirective } from './redis-acl.js'

/** The user and password an administrator connects with (`default`, every command). */
export interface RedisAdminAuth {
  user: string
  password: string
}

/** How every node of a local Redis Cluster is configured. */
export interface ClusterNodeSettings {
  /** `cluster-node-timeout`: how long a silent node takes to be failed over. */
  nodeTimeoutMs: number
  /** The `default` user's password; without it the node accepts anyone. */
  admin?: RedisAdminAuth | undefined
  /** More ACL users, the same on every node. */
  users: readonly RedisAclUser[]
}

/**
 * The redis.conf lines of one cluster node, besides its port and directory: in memory only, a
 * short node timeout, and settings that make failovers and replication quick and certain.
 * Holds the admin password in clear (`masterauth`: a replica authenticates to its master with
 * it), so the file must be readable by its owner only.
 */
export function clusterNodeDirectives(settings: ClusterNodeSettings): string[] {
  const { admin } = settings
  return [
    'cluster-enabled yes',
    'cluster-config-file nodes.conf',
    `cluster-node-timeout ${settings.nodeTimeoutMs}`,
    // One shard failing over must not stop the others from serving their slots.
    'cluster-require-full-coverage no',
    // A replica always takes over its failed master, however long ago it last heard from it.
    'cluster-replica-validity-factor 0',
    // Replicas sync at once instead of after Redis's default 5 s wait for more replicas.
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
    'save ""',
    'appendonly no',
    ...(admin
      ? [
          `masteruser ${admin.user}`,
          `masterauth ${admin.password}`,
          redisUserDirective({ name: admin.user, password: admin.password, rules: '~* &* +@all' }),
        ]
      : []),
    ...settings.users.map(redisUserDirective),
  ]
}

/** Runs `fn` on a fresh connection to one node, which never retries nor queues. */
export async function withNode<T>(
  port: number,
  admin: RedisAdminAuth | undefined,
  fn: (node: Redis) => Promise<T>,
): Promise<T> {
  const node = new Redis({
    host: '127.0.0.1',
    port,
    ...(admin ? { username: admin.user, password: admin.password } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
  })
  try {
    await node.connect()
    return await fn(node)
  } finally {
    node.disconnect()
  }
}

/** One line of `CLUSTER NODES`. */
export interface ClusterNodeEntry {
  id: string
  port: number
  /** e.g. `myself`, `master`, `slave`, `fail?`, `fail`. */
  flags: string[]
  /** The slot ranges it serves (`0-5460`, `5461`), without the `[…]` of slots in migration. */
  slots: string[]
}

/** Parses `CLUSTER NODES`. */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
  return text
    .trim()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id = '', address = '', flags = '', , , , , , ...slots] = line.trim().split(' ')
      return {
        id,
        port: Number(address.split('@')[0]?.split(':').pop()),
        flags: flags.split(','),
        slots: slots.filter((slot) => !slot.startsWith('[')),
      }
    })
}

/** The slots of `0-3,7` ranges, one by one. */
export const expandSlots = (ranges: readonly string[]): number[] =>
  ranges.flatMap((range) => {
    const [first = 0, last = first] = range.split('-').map(Number)
    return Array.from({ length: last - first + 1 }, (_, index) => first + index)
  })

/** The node's `CLUSTER NODES`, parsed. */
export const clusterNodes = async (node: Redis): Promise<ClusterNodeEntry[]> =>
  parseClusterNodes(String(await node.call('CLUSTER', 'NODES')))

/** Healthy masters, as one node sees them: not failed, not suspected. */
export const liveMasters = (entries: readonly ClusterNodeEntry[]): ClusterNodeEntry[] =>
  entries.filter(
    (entry) =>
      entry.flags.includes('master') && !entry.flags.some((flag) => flag.startsWith('fail')),
  )

/** Which master serves which slots, as one node sees it: equal on nodes that agree. */
const slotMap = (entries: readonly ClusterNodeEntry[]): string =>
  entries
    .filter((entry) => entry.flags.includes('master') && entry.slots.length > 0)
    .map((entry) => `${entry.port}:${entry.slots.join(',')}`)
    .sort()
    .join(' ')

const infoField = (info: string, field: string): string | undefined =>
  info.match(new RegExp(`^${field}:(.*)$`, 'm'))?.[1]?.trim()

/**
 * Why the cluster on these nodes is not healthy yet, or undefined when it is: every node says
 * `cluster_state:ok` and serves all 16384 slots, every node sees the same slot map, and every
 * replica's link to its master is up. A node that does not answer is a problem; leave out the
 * ports of nodes meant to be down.
 */
export async function clusterProblem(
  ports: readonly number[],
  admin: RedisAdminAuth | undefined,
): Promise<string | undefined> {
  const maps = new Set<string>()
  for (const port of ports) {
    const problem = await withNode(port, admin, async (node) => {
      const info = String(await node.call('CLUSTER', 'INFO'))
      if (infoField(info, 'cluster_state') !== 'ok') return 'cluster_state is not ok'
      if (infoField(info, 'cluster_slots_ok') !== '16384') return 'not every slot is served'
      const replication = String(await node.info('replication'))
      if (infoField(replication, 'role') === 'slave') {
        if (infoField(replication, 'master_link_status') !== 'up') return 'replica link is down'
      }
      maps.add(slotMap(await clusterNodes(node)))
      return undefined
    }).catch((error: Error) => `does not answer (${error.message})`)
    if (problem) return `node ${port}: ${problem}`
  }
  return maps.size > 1 ? 'the nodes disagree on the slot map' : undefined
}

/** Each node's own `CLUSTER NODES`, for an error that says what the cluster looked like. */
async function describeNodes(
  ports: readonly number[],
  admin: RedisAdminAuth | undefined,
): Promise<string> {
  const views = await Promise.all(
    ports.map((port) =>
      withNode(port, admin, async (node) => String(await node.call('CLUSTER', 'NODES')))
        .then((nodes) => `node ${port} sees:\n${nodes.trim()}`)
        .catch((error: Error) => `node ${port}: ${error.message}`),
    ),
  )
  return views.join('\n')
}

/** Polls `clusterProblem` until it finds none; throws the last problem after `timeoutMs`. */
export async function waitForHealthyCluster(
  ports: readonly number[],
  admin: RedisAdminAuth | undefined,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const problem = await clusterProblem(ports, admin)
    if (!problem) return
    if (Date.now() > deadline)
      throw new Error(
        `Redis Cluster not healthy after ${timeoutMs} ms: ${problem}\n${await describeNodes(ports, admin)}`,
      )
    await sleep(50)
  }
}

/**
 * Makes a cluster of fresh cluster-enabled nodes with `redis-cli --cluster create`: the first
 * `ports.length / (replicasPerMaster + 1)` become masters sharing the 16384 slots, the others
 * their replicas. The password reaches redis-cli through its environment, never its arguments.
 * Returns once the cluster is healthy; throws after `timeoutMs` for each of the two steps.
 */
export async function createCluster(
  ports: readonly number[],
  replicasPerMaster: number,
  admin: RedisAdminAuth | undefined,
  timeoutMs = 30_000,
): Promise<void> {
  const cli = findBinary('redis-cli', ['/usr/bin', '/usr/local/bin'])
  if (!cli)
    throw new Error('redis-cli not found. Install it with: sudo apt-get install -y redis-tools')
  const args = [
    '--cluster',
    'create',
    ...ports.map((port) => `127.0.0.1:${port}`),
    '--cluster-replicas',
    String(replicasPerMaster),
    '--cluster-yes',
    ...(admin ? ['--user', admin.user] : []),
  ]
  const env = { ...process.env, ...(admin ? { REDISCLI_AUTH: admin.password } : {}) }
  try {
    await promisify(execFile)(cli, args, { env, timeout: timeoutMs })
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    throw new Error(`redis-cli --cluster create failed: ${stdout.slice(-2000)}${stderr}`)
  }
  await waitForHealthyCluster(ports, admin, timeoutMs)
}

/** Options of `migrateSlots`. */
export interface MigrateSlotsOptions {
  /**
   * Called once the slots are marked MIGRATING on the source and IMPORTING on the target, before
   * any key moves: clients sent there now get ASK redirections. @default undefined
   */
  whileMigrating?: (slots: number[]) => Promise<void>
}

/**
 * Moves the last `count` slots of the master on `fromPort` to the master on `toPort`, keys
 * included, as `redis-cli --cluster reshard` does: SETSLOT IMPORTING / MIGRATING, MIGRATE of
 * each slot's keys, then SETSLOT NODE on the target, the source and every other live master.
 * Returns the slots moved; the replicas learn of it by gossip.
 */
export async function migrateSlots(
  fromPort: number,
  toPort: number,
  count: number,
  admin: RedisAdminAuth | undefined,
  options: MigrateSlotsOptions = {},
): Promise<number[]> {
  return withNode(fromPort, admin, (source) =>
    withNode(toPort, admin, async (target) => {
      const entries = await clusterNodes(source)
      const sourceEntry = entries.find((entry) => entry.flags.includes('myself'))
      const targetEntry = entries.find((entry) => entry.port === toPort)
      if (!sourceEntry || !targetEntry) throw new Error(`node ${toPort} is not in the cluster`)
      const owned = expandSlots(sourceEntry.slots)
      if (owned.length < count)
        throw new Error(`node ${fromPort} serves ${owned.length} slots, fewer than ${count}`)
      const slots = owned.slice(owned.length - count)
      for (const slot of slots) {
        await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceEntry.id)
        await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetEntry.id)
      }
      await options.whileMigrating?.(slots)
      const auth = admin ? ['AUTH2', admin.user, admin.password] : []
      for (const slot of slots) {
        for (;;) {
          const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 1000)) as string[]
          if (keys.length === 0) break
          await source.call('MIGRATE', '127.0.0.1', toPort, '', 0, 10_000, ...auth, 'KEYS', ...keys)
        }
      }
      const others = liveMasters(entries).filter(
        (entry) => entry.port !== fromPort && entry.port !== toPort,
      )
      const assign = async (node: Redis) => {
        for (const slot of slots)
          await node.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetEntry.id)
      }
      // The target first: once the source lets go, its clients are sent there.
      await assign(target)
      await assign(source)
      for (const other of others) await withNode(other.port, admin, assign)
      return slots
    }),
  )
}
