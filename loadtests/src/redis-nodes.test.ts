import { startRedisCluster, startRedisServer } from '@strata/test-servers'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  histogramDelta,
  histogramQuantile,
  type LagHistogram,
  parseLagBuckets,
  propagationOf,
} from './propagation.js'
import {
  imbalance,
  medianLoads,
  type NodeLoad,
  nodeLoads,
  type RedisSnapshot,
  redisSnapshot,
  shardMasters,
  snapshotRoundTrips,
} from './redis-nodes.js'

/** One node of `CLUSTER SHARDS` as ioredis returns it: a flat key/value list. */
const shardNode = (port: number, role: string, health = 'online') => [
  'id',
  `id-${port}`,
  'port',
  port,
  'ip',
  '127.0.0.1',
  'endpoint',
  '127.0.0.1',
  'role',
  role,
  'replication-offset',
  42,
  'health',
  health,
]

describe('shardMasters', () => {
  it('takes the online master of every shard that serves slots', () => {
    const shards = [
      ['slots', [0, 5460], 'nodes', [shardNode(7001, 'master'), shardNode(7004, 'replica')]],
      // A failover: the old master failed, its replica took over.
      [
        'slots',
        [5461, 10922],
        'nodes',
        [shardNode(7002, 'master', 'fail'), shardNode(7005, 'master')],
      ],
      ['slots', [10923, 16383], 'nodes', [shardNode(7003, 'master', 'loading')]],
      // A master left without slots serves no key.
      ['slots', [], 'nodes', [shardNode(7006, 'master')]],
    ]
    expect(shardMasters(shards)).toEqual(['127.0.0.1:7001', '127.0.0.1:7005'])
  })
})

const snapshot = (entries: Record<string, [commands: number, get: number]>): RedisSnapshot =>
  new Map(
    Object.entries(entries).map(([node, [commands, get]]) => [
      node,
      { commands, byCommand: { get, info: 1 } },
    ]),
  )

describe('nodeLoads', () => {
  it('gives each node its commands/s, round trips/s and share over the window', () => {
    const before = snapshot({ a: [100, 10], b: [50, 5], c: [0, 0] })
    const after = snapshot({ a: [400, 210], b: [250, 105], c: [400, 200] })
    expect(nodeLoads(before, after, 2)).toEqual([
      { node: 'a', commands_per_s: 150, round_trips_per_s: 100, share: 33.3 },
      { node: 'b', commands_per_s: 100, round_trips_per_s: 50, share: 22.2 },
      { node: 'c', commands_per_s: 200, round_trips_per_s: 100, share: 44.4 },
    ])
    expect(snapshotRoundTrips(before, after)).toEqual({ total: 500, byCommand: { get: 500 } })
  })

  it('leaves out a node missing from either snapshot (a master that failed, its replica promoted)', () => {
    const before = snapshot({ a: [0, 0], b: [0, 0] })
    const after = snapshot({ a: [10, 10], c: [99, 99] })
    expect(nodeLoads(before, after, 1).map((load) => load.node)).toEqual(['a'])
    expect(snapshotRoundTrips(before, after).total).toBe(10)
  })

  it('measures the busiest node against the mean', () => {
    const load = (commands: number): NodeLoad => ({
      node: String(commands),
      commands_per_s: commands,
      round_trips_per_s: 0,
      share: 0,
    })
    expect(imbalance([load(100), load(100), load(100)])).toBe(1)
    expect(imbalance([load(150), load(100), load(50)])).toBe(1.5)
    expect(imbalance([load(1000)])).toBe(1)
    expect(imbalance([])).toBeNull()
  })

  it('takes each node’s median over runs, keeping only the nodes every run had', () => {
    const run = (a: number, b: number): NodeLoad[] => [
      { node: 'a', commands_per_s: a, round_trips_per_s: a, share: 50 },
      { node: 'b', commands_per_s: b, round_trips_per_s: b, share: 50 },
    ]
    const failedOver = run(7, 7).slice(0, 1)
    expect(medianLoads([run(1, 10), run(3, 30), run(2, 20)])).toEqual(run(2, 20))
    expect(medianLoads([run(1, 10), failedOver, run(3, 30)]).map((l) => l.node)).toEqual(['a'])
  })
})

/** `/metrics` lines of the lag histogram with these cumulative counts. */
const metricsPage = (counts: Record<string, number>, type = 'invalidate') =>
  Object.entries(counts)
    .map(
      ([le, n]) =>
        `strata_invalidation_lag_seconds_bucket{le="${le}",replica="r1",type="${type}"} ${n}`,
    )
    .join('\n')

describe('invalidation propagation from the replicas’ histogram', () => {
  const before = parseLagBuckets(
    `# HELP strata_invalidation_lag_seconds …\n${metricsPage({ '0.0001': 5, '0.001': 5, '+Inf': 5 })}\n${metricsPage({ '0.0001': 9, '+Inf': 9 }, 'clear')}`,
  )
  const after = parseLagBuckets(metricsPage({ '0.0001': 55, '0.001': 150, '+Inf': 205 }))

  it('reads the invalidate buckets only', () => {
    expect(before).toEqual(
      new Map([
        [0.0001, 5],
        [0.001, 5],
        [Number.POSITIVE_INFINITY, 5],
      ]),
    )
  })

  it('interpolates quantiles inside the bucket they fall in, as histogram_quantile does', () => {
    const delta = histogramDelta(before, after)
    // 200 messages: 50 up to 0.1 ms, 95 more up to 1 ms, 55 beyond.
    expect(histogramQuantile(0.25, delta)).toBeCloseTo(0.0001)
    expect(histogramQuantile(0.5, delta)).toBeCloseTo(0.0001 + 0.0009 * (50 / 95))
    // Beyond the highest finite bound: that bound.
    expect(histogramQuantile(0.99, delta)).toBeCloseTo(0.001)
    expect(propagationOf(delta)).toEqual({ observed: 200, p50_ms: 0.574, p99_ms: 1 })
  })

  it('has no figure when nothing was heard (a mode without a bus)', () => {
    const none: LagHistogram = new Map([[Number.POSITIVE_INFINITY, 0]])
    expect(histogramQuantile(0.99, none)).toBeUndefined()
    expect(propagationOf(histogramDelta(before, before))).toBeNull()
  })
})

describe('redisSnapshot on real servers', () => {
  const password = 'admin-secret'
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>
  let single: Awaited<ReturnType<typeof startRedisServer>>
  beforeAll(async () => {
    ;[cluster, single] = await Promise.all([
      startRedisCluster({ password }),
      startRedisServer({ password }),
    ])
  }, 60_000)
  afterAll(async () => {
    await Promise.all([cluster?.stop(), single?.stop()])
  }, 30_000)

  it('counts each master of a cluster, through any node, and leaves the replicas out', async () => {
    const masters = (await cluster.masters()).map((node) => `127.0.0.1:${node.port}`).sort()
    // Asked through a replica (the last node), after a seed that does not answer: it finds the
    // masters all the same.
    const seeds = [`redis://default:${password}@127.0.0.1:1`, cluster.nodes.at(-1)?.url as string]
    const before = await redisSnapshot(seeds)
    expect([...before.keys()]).toEqual(masters)
    const client = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]?.port }], {
      redisOptions: { password },
    })
    try {
      // 300 keys spread over the slots, so over every master: 300 SETs and 300 GETs.
      for (let i = 0; i < 300; i++) await client.set(`key:${i}`, 'v')
      for (let i = 0; i < 300; i++) await client.get(`key:${i}`)
    } finally {
      client.disconnect()
    }
    const after = await redisSnapshot(seeds)
    const loads = nodeLoads(before, after, 1)
    expect(loads.map((load) => load.node)).toEqual(masters)
    // Each master ran its share of the 600, and a few commands of ours (INFO) and of the
    // client (its ready checks, CLUSTER SLOTS); counting the replicas too would add their 300
    // replayed SETs.
    for (const load of loads) expect(load.commands_per_s).toBeGreaterThan(100)
    const total = loads.reduce((sum, load) => sum + load.commands_per_s, 0)
    expect(total).toBeGreaterThanOrEqual(600)
    expect(total).toBeLessThan(700)
    expect(snapshotRoundTrips(before, after).byCommand).toMatchObject({ get: 300 })
    expect(imbalance(loads)).toBeLessThan(1.3)
  }, 30_000)

  it('counts the one node of a single server', async () => {
    const before = await redisSnapshot([single.url])
    const client = new Redis(single.url)
    try {
      for (let i = 0; i < 50; i++) await client.get(`key:${i}`)
    } finally {
      client.disconnect()
    }
    const loads = nodeLoads(before, await redisSnapshot([single.url]), 1)
    expect(loads).toHaveLength(1)
    expect(loads[0]?.node).toBe(`127.0.0.1:${single.port}`)
    expect(loads[0]?.share).toBe(100)
    expect(loads[0]?.commands_per_s).toBeGreaterThanOrEqual(50)
  })
})
