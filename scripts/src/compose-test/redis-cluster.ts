import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { type Compose, docker } from './compose.js'
import { check, figure, seconds, sleep } from './report.js'

/** The nodes of deploy/docker-compose.cluster.yml, masters first. */
export const NODES = ['redis-1', 'redis-2', 'redis-3', 'redis-4', 'redis-5', 'redis-6'] as const
/** Every cluster slot. */
const SLOTS = 16_384

/** One line of CLUSTER NODES. */
interface NodeLine {
  id: string
  /** Its announced hostname: the compose service name. */
  hostname: string
  flags: string[]
  /** The master's id, for a replica. */
  masterId: string
  /** The slot ranges it serves, for a master. */
  slots: string
}

/** What one node says of the cluster. */
interface NodeView {
  state: string
  knownNodes: number
  slotsOk: number
  nodes: NodeLine[]
}

/** Runs `script` with sh in a node's container, where redis-cli logs in as `default`. */
export const inNode = (compose: Compose, script: string, node: string = NODES[0]) =>
  compose.run(['exec', '-T', node, 'sh', '-c', script])

export function parseNodeLine(line: string): NodeLine {
  const [id = '', address = '', flags = '', masterId = '', ...rest] = line.trim().split(' ')
  return {
    id,
    hostname: address.split(',')[1] ?? '',
    flags: flags.split(',').filter((f) => f !== 'myself'),
    masterId,
    slots: rest.slice(4).join(' '),
  }
}

/** CLUSTER INFO and CLUSTER NODES of every node, asked from one container in one exec. */
async function clusterViews(compose: Compose): Promise<Map<string, NodeView>> {
  const script = NODES.map(
    (n) => `echo "@@ ${n}"; redis-cli -h ${n} CLUSTER INFO; redis-cli -h ${n} CLUSTER NODES`,
  ).join('; ')
  const result = await inNode(compose, script)
  const views = new Map<string, NodeView>()
  for (const chunk of result.stdout.replaceAll('\r', '').split('@@ ').slice(1)) {
    const [name = '', ...lines] = chunk.split('\n')
    const field = (key: string) => new RegExp(`^${key}:(\\S+)$`, 'm').exec(chunk)?.[1] ?? ''
    views.set(name.trim(), {
      state: field('cluster_state'),
      knownNodes: Number(field('cluster_known_nodes')),
      slotsOk: Number(field('cluster_slots_ok')),
      nodes: lines.filter((l) => /^[0-9a-f]{40} /.test(l)).map(parseNodeLine),
    })
  }
  return views
}

/** The cluster as every node sees it, and what is wrong with it ('' when nothing). */
async function clusterProblem(compose: Compose): Promise<{ problem: string; nodes: NodeLine[] }> {
  const views = await clusterViews(compose)
  const signature = (v: NodeView) =>
    v.nodes
      .map((n) => `${n.id} ${n.flags.join(',')} ${n.masterId} ${n.slots}`)
      .sort()
      .join('\n')
  const first = views.get(NODES[0])
  const nodes = first?.nodes ?? []
  const masters = nodes.filter((n) => n.flags.includes('master') && n.slots !== '')
  const replicas = nodes.filter((n) => n.flags.includes('slave') || n.flags.includes('replica'))
  const problems = [
    ...NODES.filter((n) => views.get(n)?.state !== 'ok').map((n) => `${n}: state not ok`),
    ...NODES.filter((n) => views.get(n)?.knownNodes !== NODES.length).map(
      (n) => `${n}: knows ${views.get(n)?.knownNodes} nodes`,
    ),
    ...NODES.filter((n) => views.get(n)?.slotsOk !== SLOTS).map((n) => `${n}: slots not all ok`),
    ...[...views.values()]
      .flatMap((v) => v.nodes)
      .filter((n) => n.flags.some((f) => /fail|noaddr|handshake/.test(f)))
      .map((n) => `${n.hostname} is ${n.flags.join(',')}`),
    ...(first && [...views.values()].every((v) => signature(v) === signature(first))
      ? []
      : ['the nodes disagree on the slot map']),
    ...(masters.length === 3 ? [] : [`${masters.length} masters with slots`]),
    ...(replicas.length === 3 &&
    new Set(replicas.map((r) => r.masterId)).size === 3 &&
    replicas.every((r) => masters.some((m) => m.id === r.masterId))
      ? []
      : ['not one replica per master']),
  ]
  return { problem: [...new Set(problems)].join('; '), nodes }
}

/** Polls until every node sees the cluster ok and agrees, for up to `ms`; the time it took. */
async function untilClusterOk(compose: Compose, ms: number) {
  const started = performance.now()
  let last = await clusterProblem(compose)
  while (last.problem !== '' && performance.now() - started < ms) {
    await sleep(250)
    last = await clusterProblem(compose)
  }
  return { ...last, ms: performance.now() - started }
}

/** Strata's Lua scripts: the SHA1s the API sends with EVALSHA. */
function scriptShas(repo: string): string[] {
  const dir = resolve(repo, 'packages/cache-core/lua')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .map((f) =>
      createHash('sha1')
        .update(readFileSync(resolve(dir, f)))
        .digest('hex'),
    )
}

/** Every node, masters and replicas, holds every script (a promoted replica must have them). */
async function checkScriptsEverywhere(compose: Compose, repo: string, when: string) {
  const shas = scriptShas(repo)
  const script = NODES.map((n) => `redis-cli -h ${n} SCRIPT EXISTS ${shas.join(' ')}`).join('; ')
  const answers = (await inNode(compose, script)).stdout.split('\n').filter(Boolean)
  const held = answers.filter((a) => a.trim() === '1').length
  check(
    shas.length > 0 && held === shas.length * NODES.length,
    `${when}: every node holds the ${shas.length} Lua scripts (${held} of ${shas.length * NODES.length})`,
  )
}

/** Runs the one-shot redis-cluster-init as `up` does, to its end: its exit code, logs and time. */
async function runInit(compose: Compose) {
  const started = performance.now()
  await compose.must(['up', '-d', '--no-build', '--no-deps', 'redis-cluster-init'])
  // -a: it may have exited already.
  const ps = await compose.must(['ps', '-a', '-q', 'redis-cluster-init'])
  const exited = await docker(['wait', ps.stdout.trim()])
  const logs = await compose.run(['logs', '--no-color', '--no-log-prefix', 'redis-cluster-init'])
  return { code: exited.stdout.trim(), logs: logs.stdout, ms: performance.now() - started }
}

/**
 * The Redis side of the cluster file (PostgreSQL starts meanwhile): six healthy nodes,
 * redis-cluster-init exits 0 having made a cluster of 3 masters with a replica each that every
 * node sees ok and agrees on, the scripts on every node, and the API's ACL user able to route
 * (CLUSTER SLOTS, by service name) and use the sharded bus, and still refused what it was refused
 * on a single server.
 */
export async function checkRedisCluster(compose: Compose, repo: string): Promise<void> {
  // PostgreSQL meanwhile: its first start (initdb) would otherwise come after the cluster's.
  const nodesUp = await compose.must(['up', '-d', '--no-build', '--wait', ...NODES, 'postgres'])
  figure('cluster: 6 Redis nodes and PostgreSQL healthy (up --wait)', seconds(nodesUp.ms))
  const init = await runInit(compose)
  figure('cluster: redis-cluster-init (create, wait ok, load scripts)', seconds(init.ms))
  check(init.code === '0', `redis-cluster-init exited ${init.code}`)
  const { problem, nodes } = await untilClusterOk(compose, 0)
  check(
    problem === '',
    `every node reports cluster_state:ok, 6 known nodes, all ${SLOTS} slots; they agree on 3 masters with a replica each${problem ? ` (${problem})` : ''}`,
  )
  const masters = nodes.filter((n) => n.flags.includes('master')).map((n) => n.hostname)
  check(
    masters.sort().join(',') === NODES.slice(0, 3).join(','),
    `the masters are the first three nodes listed to --cluster create (${masters.join(', ')})`,
  )
  await checkScriptsEverywhere(compose, repo, 'after redis-cluster-init')

  // As the API: REDIS_PASSWORD is in every node's environment (start.sh writes the ACL from it).
  const asApi = (command: string) =>
    inNode(
      compose,
      `redis-cli --no-auth-warning --user strata-api --pass "$REDIS_PASSWORD" ${command}`,
    )
  const slots = await asApi('CLUSTER SLOTS')
  // Replicas join CLUSTER SLOTS once their replication has started; the masters are there at once.
  const endpoints = new Set(slots.stdout.split('\n').filter((l) => /^redis-\d$/.test(l)))
  check(
    NODES.slice(0, 3).every((n) => endpoints.has(n)),
    `strata-api may read CLUSTER SLOTS; the masters' endpoints are their service names (${[...endpoints].sort().join(', ')})`,
  )
  const published = await asApi("-c SPUBLISH 'strata:{compose}:bus' hello")
  const flush = await asApi('FLUSHALL')
  const outside = await asApi('-c GET outside')
  check(
    /^\d+$/.test(published.stdout.trim()) &&
      flush.stdout.includes('NOPERM') &&
      outside.stdout.includes('NOPERM'),
    `strata-api may SPUBLISH on strata:{…}:bus, and is refused FLUSHALL and keys outside strata: (${[published, flush, outside].map((r) => r.stdout.trim()).join(' | ')})`,
  )
}

/** Each running node's container and its IP on the compose network, by service name. */
async function nodeAddresses(compose: Compose): Promise<Map<string, { id: string; ip: string }>> {
  const ids = (await compose.must(['ps', '-q', ...NODES])).stdout.split('\n').filter(Boolean)
  const format =
    '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'
  const inspect = await docker(['inspect', '--format', format, ...ids])
  return new Map(
    inspect.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [service = '', id = '', ip = ''] = line.split(' ')
        return [service, { id, ip }] as const
      }),
  )
}

/**
 * Stops every node and starts them again in the reverse order of their addresses, so Docker hands
 * each one another node's old IP: the cluster bus knows its peers by IP only, and without the
 * re-introduction of deploy/redis/cluster-node.sh nodes keep looking for peers at addresses that
 * are now someone else's (measured: still `fail`/`noaddr` after 85 s). Then every node must see
 * the cluster ok again, with the scripts loaded.
 */
export async function restartWithNewAddresses(compose: Compose, repo: string): Promise<void> {
  const before = await nodeAddresses(compose)
  const byAddressDown = [...before.values()].sort((a, b) =>
    b.ip.localeCompare(a.ip, undefined, { numeric: true }),
  )
  await compose.must(['stop', ...NODES])
  // `docker start` starts its arguments one after the other, in order.
  const started = await docker(['start', ...byAddressDown.map((node) => node.id)])
  check(started.code === 0, `the 6 nodes started again, one by one (${seconds(started.ms)})`)
  const after = await nodeAddresses(compose)
  const moved = NODES.filter((n) => before.get(n)?.ip !== after.get(n)?.ip)
  check(moved.length >= 4, `${moved.length} of 6 nodes came back on another node's old address`)
  const { problem, ms } = await untilClusterOk(compose, 60_000)
  figure('cluster: all nodes restarted on new addresses until every node sees it ok', seconds(ms))
  check(
    problem === '',
    `after the restart every node sees the cluster ok again${problem ? ` (${problem})` : ''}`,
  )
  await checkScriptsEverywhere(compose, repo, 'after the restart')
  // What a later `up` does: the cluster is there, so it is only checked and given the scripts.
  const again = await runInit(compose)
  check(
    again.code === '0' && again.logs.includes('the nodes already form a cluster'),
    `redis-cluster-init run again: exits ${again.code}, the cluster kept (${seconds(again.ms)})`,
  )
}

/**
 * A node recreated without its cluster state (the stand-in keeps nodes.conf in the container,
 * not in a volume) while the others keep theirs: redis-cluster-init must not make a second
 * cluster of it, but stop and say what to do. Run last: the cluster stays one node short.
 */
export async function checkInitRefusesPartial(compose: Compose): Promise<void> {
  const last = NODES[NODES.length - 1] as string
  await compose.must(['up', '-d', '--no-build', '--no-deps', '--force-recreate', '--wait', last])
  const init = await runInit(compose)
  check(
    init.code === '1' && init.logs.includes('down -v, then up'),
    `${last} recreated empty: redis-cluster-init exits ${init.code} and says to start anew`,
  )
}
