import type { Compose } from './compose.js'
import { replicaGet } from './nginx-ops.js'
import { writeThenReadEverywhere } from './read-your-writes.js'
import {
  checkInitRefusesPartial,
  checkRedisCluster,
  inNode,
  NODES,
  parseNodeLine,
  restartWithNewAddresses,
} from './redis-cluster.js'
import { check, figure, http, seconds, sleep, step } from './report.js'

/** The cluster override and its stand-in images, on top of the run's files. */
export const CLUSTER_FILES = ['deploy/docker-compose.cluster.yml', 'deploy/stand-ins/cluster.yml']
const REPLICAS = 3

interface ServiceConfig {
  image?: string
  environment?: Record<string, string | null>
  depends_on?: Record<string, { condition?: string }>
}

/** `docker compose config` of the shipped files only, as JSON. */
async function shippedConfig(compose: Compose, files: readonly string[]) {
  const config = await compose.must(['config', '--format', 'json'], { files })
  return (JSON.parse(config.stdout) as { services: Record<string, ServiceConfig> }).services
}

/**
 * The shipped override, without the stand-ins: the single Redis is gone, the nodes and the init
 * service run the base file's Redis image, and the replicas get REDIS_CLUSTER_NODES (the three
 * masters) instead of REDIS_URL and wait for the init service.
 */
async function checkClusterFile(compose: Compose): Promise<void> {
  step('Cluster file: deploy/docker-compose.cluster.yml over the shipped file')
  await compose.must(['config', '--quiet'])
  check(true, 'docker compose config accepts the cluster override with the stand-ins')
  const base = await shippedConfig(compose, ['deploy/docker-compose.yml'])
  const services = await shippedConfig(compose, [
    'deploy/docker-compose.yml',
    'deploy/docker-compose.cluster.yml',
  ])
  const images = new Set([...NODES, 'redis-cluster-init'].map((n) => services[n]?.image))
  check(
    services.redis === undefined && images.size === 1 && images.has(base.redis?.image),
    `no single redis; the 6 nodes and redis-cluster-init run the base file's ${base.redis?.image}`,
  )
  const env = services.api?.environment ?? {}
  const seeds = (env.REDIS_CLUSTER_NODES ?? '').split(',')
  check(
    !('REDIS_URL' in env) &&
      seeds.length === 3 &&
      seeds.every((url, i) => new RegExp(`^redis://strata-api:.+@redis-${i + 1}:6379$`).test(url)),
    'api: REDIS_CLUSTER_NODES = the 3 masters as strata-api, no REDIS_URL',
  )
  const dependsOn = services.api?.depends_on ?? {}
  check(
    dependsOn['redis-cluster-init']?.condition === 'service_completed_successfully' &&
      dependsOn.redis === undefined,
    'api waits for redis-cluster-init to exit 0',
  )
}

/** Every replica's own /health: healthy, with L2 and the bus up on the cluster. */
async function checkReplicasHealth(compose: Compose): Promise<void> {
  const states: string[] = []
  for (let index = 1; index <= REPLICAS; index++) {
    const health = await replicaGet(compose, '/health', index)
    const body = JSON.parse(health.body) as { status?: string; checks?: Record<string, unknown> }
    states.push(`${health.status} ${body.status} l2=${body.checks?.l2} bus=${body.checks?.bus}`)
  }
  check(
    states.every((s) => s === '200 healthy l2=up bus=up'),
    `every replica's /health: ${states.join('; ')}`,
  )
}

/** User keys (strata:{tag}:k:…) on each master, by service name. */
async function userKeysPerMaster(compose: Compose): Promise<Map<string, number>> {
  const nodes = await inNode(compose, 'redis-cli CLUSTER NODES')
  const masters = nodes.stdout
    .split('\n')
    .filter(Boolean)
    .map(parseNodeLine)
    .filter((n) => n.flags.includes('master'))
    .map((n) => n.hostname)
  const script = masters
    .map((m) => `echo "${m} $(redis-cli -h ${m} --scan --pattern 'strata:{*}:k:*' | wc -l)"`)
    .join('; ')
  const counts = await inNode(compose, script)
  return new Map(
    counts.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [master = '', count = '0'] = l.trim().split(/\s+/)
        return [master, Number(count)] as const
      }),
  )
}

/** Writes through nginx until one is acked, for up to `ms`; how long that took, or undefined. */
async function untilWriteAcked(base: string, key: string, ms: number) {
  const started = performance.now()
  while (performance.now() - started < ms) {
    const written = await http(base, 'POST', '/write', { key, value: 'after' }).catch(
      () => undefined,
    )
    if (written?.status === 200) return performance.now() - started
    await sleep(250)
  }
  return undefined
}

/**
 * `pnpm compose:test --redis cluster`: Strata on deploy/docker-compose.cluster.yml. The Redis side
 * first (the cluster forms, scripts on every node, the API's user), then the replicas on it:
 * healthy, a write through one replica read back on every replica (the invalidation crosses the
 * sharded bus), keys spread over the 3 masters, and a restart of every node on new addresses.
 */
export async function clusterScenarios(compose: Compose, base: string, repo: string) {
  await checkClusterFile(compose)

  step('Build the API image from deploy/Dockerfile')
  const build = await compose.must(['build', 'api'], { echo: process.env.CI !== undefined })
  figure('build api image', seconds(build.ms))

  step('Redis Cluster: 6 nodes, redis-cluster-init')
  await checkRedisCluster(compose, repo)

  step(`up --scale api=${REPLICAS} on the cluster`)
  const up = await compose.must(['up', '-d', '--no-build', '--wait', '--scale', `api=${REPLICAS}`])
  figure(`cluster: up --scale api=${REPLICAS} until every service is healthy`, seconds(up.ms))
  const ids = await compose.containerIds('api')
  check(ids.length === REPLICAS, `${REPLICAS} api containers`)
  await checkReplicasHealth(compose)

  const rwKeys = Array.from({ length: 3 }, (_, k) => `compose:cluster:rw:${k}`)
  const { stale, reads } = await writeThenReadEverywhere(base, rwKeys, 2, REPLICAS)
  check(
    stale === 0,
    `write then read on every replica over the sharded bus: ${stale} stale of ${reads} reads (3 keys × 2 writes)`,
  )

  // 30 keys over 3 masters: the chance that one master gets none of them is 3 × (2/3)^30 < 1e-4.
  // Written, then read (a read that misses fills L2), each once.
  for (let i = 0; i < 30; i++) {
    await http(base, 'POST', '/write', { key: `compose:spread:${i}`, value: 'x' })
    await http(base, 'GET', `/read/compose:spread:${i}`)
  }
  const perMaster = await userKeysPerMaster(compose)
  const spread = [...perMaster.entries()].map(([m, n]) => `${m} ${n}`).join(', ')
  figure('cluster: user keys per master after 33 keys written', spread)
  check(
    perMaster.size === 3 && [...perMaster.values()].every((n) => n > 0),
    `keys are spread over the 3 masters (${spread})`,
  )

  step('Restart every Redis node on new addresses (docker start in reverse address order)')
  await restartWithNewAddresses(compose, repo)
  const acked = await untilWriteAcked(base, 'compose:cluster:rw:0', 30_000)
  figure(
    'cluster: nodes back until a write through nginx is acked',
    acked === undefined ? 'never' : seconds(acked),
  )
  check(acked !== undefined, 'after the restart, writes are acked again')
  const again = await writeThenReadEverywhere(base, rwKeys.slice(0, 1), 1, REPLICAS)
  check(
    again.stale === 0,
    `after the restart, a write is read back on every replica: ${again.stale} stale of ${again.reads} reads`,
  )

  step('A node recreated without its cluster state')
  await checkInitRefusesPartial(compose)
}
