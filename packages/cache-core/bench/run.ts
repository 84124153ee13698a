/**
 * cache-core benchmarks, each against a reference measured in the same run:
 *  - L1-hit `get` throughput: cache-core vs raw lru-cache vs BentoCache (L1 + L2 + bus).
 *  - L2-hit latency: cache-core (mode l2) vs a raw ioredis GET on the same Redis.
 * Rounds are interleaved so machine noise hits every contender alike; medians are reported.
 *
 * Usage: pnpm bench  (BENCH_ROUNDS=N for more rounds; BENCH_BASELINE=<path to another build's
 * dist/index.js>, e.g. a worktree of the previous revision, adds it as one more L1 contender)
 */
import { startRedisServer } from '@strata/test-servers'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { createTieredCache } from '../src/index.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const BASELINE = process.env.BENCH_BASELINE
const KEYS = Array.from({ length: 1000 }, (_, i) => `key:${i}`)
const VALUE = 'v'.repeat(100)
const THROUGHPUT_WINDOW_MS = 400
const LATENCY_SAMPLES = 5_000

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}
const quantile = (xs: number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

/**
 * Operations per second of `op` over a fixed time window, checked every 1,000 calls. Each batch
 * ends with one turn of the event loop, as a server's requests do: without one, no socket is
 * read, so the bus lease (renewed by a heartbeat coming back) would run out mid-window.
 */
async function throughput(op: (key: string) => unknown): Promise<number> {
  let ops = 0
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(THROUGHPUT_WINDOW_MS * 1e6)
  let now = start
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) await op(KEYS[(ops + i) % 1000] as string)
    ops += 1000
    await new Promise(setImmediate)
    now = process.hrtime.bigint()
  }
  return ops / (Number(now - start) / 1e9)
}

/** The same as `throughput`, for a synchronous call: no await, so the reference pays no microtask. */
function throughputSync(op: (key: string) => unknown): number {
  let ops = 0
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(THROUGHPUT_WINDOW_MS * 1e6)
  let now = start
  let sink = 0
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) if (op(KEYS[(ops + i) % 1000] as string) !== undefined) sink++
    ops += 1000
    now = process.hrtime.bigint()
  }
  if (sink !== ops) throw new Error('the raw lru-cache reference missed')
  return ops / (Number(now - start) / 1e9)
}

/** Microseconds per call, one call at a time: median and p99 of the samples. */
async function latency(
  op: (key: string) => Promise<unknown>,
): Promise<{ p50: number; p99: number }> {
  const samples: number[] = []
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const start = process.hrtime.bigint()
    await op(KEYS[i % 1000] as string)
    samples.push(Number(process.hrtime.bigint() - start) / 1e3)
  }
  return { p50: median(samples), p99: quantile(samples, 0.99) }
}

const fmtOps = (n: number) => `${(n / 1e6).toFixed(2)} M/s`
const fmtUs = (n: number) => `${n.toFixed(1)} µs`

async function main(): Promise<void> {
  console.log(`starting redis-server; ${ROUNDS} interleaved rounds per contender…`)
  const server = await startRedisServer()
  const redis = new Redis(server.url)
  const loader = async () => ({ value: VALUE, version: 1 })

  // The lease off (busLease 0): this measures the hit path, not how promptly heartbeats come
  // back on a loaded machine (a late one pauses L1, rightly). Every hit still reads the clock.
  const core = createTieredCache<string>({
    redis: server.url,
    loader,
    prefix: 'bench-l1',
    busLease: 0,
  })
  const coreL2 = createTieredCache<string>({
    redis: server.url,
    loader,
    prefix: 'bench-l2',
    mode: 'l2',
  })
  // Another build of cache-core (the previous revision, say), measured in the same rounds.
  const baseline = BASELINE
    ? (
        (await import(BASELINE)) as { createTieredCache: typeof createTieredCache }
      ).createTieredCache<string>({ redis: server.url, loader, prefix: 'bench-base', busLease: 0 })
    : undefined
  await Promise.all([core.whenReady(), coreL2.whenReady(), baseline?.whenReady()])
  const lru = new LRUCache<string, string>({ max: 1000, ttl: 60_000 })
  const bento = new BentoCache({
    default: 'tiered',
    stores: {
      tiered: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 1000 }))
        .useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port: server.port } }))
        .useBus(redisBusDriver({ connection: { host: '127.0.0.1', port: server.port } })),
    },
  })

  for (const key of KEYS) {
    await core.get(key)
    await baseline?.get(key)
    await coreL2.get(key)
    lru.set(key, VALUE)
    await bento.set({ key, value: VALUE, ttl: '1h' })
    await redis.set(`raw:${key}`, VALUE)
  }

  const warm = {
    l1Misses: core.stats().l1Misses,
    l2Misses: coreL2.stats().l2Misses,
    baselineL1Misses: baseline?.stats().l1Misses,
  }
  const l1 = {
    core: [] as number[],
    lru: [] as number[],
    lruAwaited: [] as number[],
    bento: [] as number[],
    baseline: [] as number[],
  }
  const l2 = {
    core: [] as number[],
    raw: [] as number[],
    coreP99: [] as number[],
    rawP99: [] as number[],
  }
  for (let round = 1; round <= ROUNDS; round++) {
    l1.lru.push(throughputSync((key) => lru.get(key)))
    l1.lruAwaited.push(await throughput((key) => lru.get(key)))
    l1.core.push(await throughput((key) => core.get(key)))
    if (baseline) l1.baseline.push(await throughput((key) => baseline.get(key)))
    l1.bento.push(await throughput((key) => bento.get({ key })))
    const raw = await latency((key) => redis.get(`raw:${key}`))
    const viaCore = await latency((key) => coreL2.get(key))
    l2.raw.push(raw.p50)
    l2.rawP99.push(raw.p99)
    l2.core.push(viaCore.p50)
    l2.coreP99.push(viaCore.p99)
    console.log(`round ${round}/${ROUNDS} done`)
  }

  const coreOps = median(l1.core)
  const lruOps = median(l1.lru)
  const bentoOps = median(l1.bento)
  // The figures are only meaningful if every measured read was a hit in the tier under test.
  if (core.stats().l1Misses !== warm.l1Misses) throw new Error('the L1 benchmark missed L1')
  if (baseline && baseline.stats().l1Misses !== warm.baselineL1Misses) {
    throw new Error('the baseline L1 benchmark missed L1')
  }
  if (coreL2.stats().l2Misses !== warm.l2Misses) throw new Error('the L2 benchmark missed L2')

  const lruAwaitedOps = median(l1.lruAwaited)
  const pct = (n: number, of: number) => `${((n / of) * 100).toFixed(0)}%`
  const row = (name: string, ops: number) =>
    `| ${name} | ${fmtOps(ops)} | ${pct(ops, lruOps)} | ${pct(ops, lruAwaitedOps)} | ${(ops / bentoOps).toFixed(1)}× |`
  console.log('\n### L1 hit: `get` throughput (median of rounds)\n')
  console.log(
    '| contender | ops/s | vs raw lru-cache (sync) | vs raw lru-cache (awaited) | vs BentoCache |',
  )
  console.log('|---|---:|---:|---:|---:|')
  console.log(row('raw lru-cache `get`, synchronous loop', lruOps))
  console.log(row('raw lru-cache `get`, awaited like an async API', lruAwaitedOps))
  console.log(row('**cache-core `get`** (multi mode, awaited)', coreOps))
  if (baseline) console.log(row(`baseline \`get\` (${BASELINE})`, median(l1.baseline)))
  console.log(row('BentoCache 1.6.1 `get` (L1+L2+bus, awaited)', bentoOps))

  const coreP50 = median(l2.core)
  const rawP50 = median(l2.raw)
  console.log('\n### L2 hit: latency per `get`, one at a time (median of rounds)\n')
  console.log('| contender | p50 | p99 | p50 vs raw GET |')
  console.log('|---|---:|---:|---:|')
  console.log(`| raw ioredis \`GET\` | ${fmtUs(rawP50)} | ${fmtUs(median(l2.rawP99))} | 1.00× |`)
  console.log(
    `| **cache-core \`get\`** (mode l2) | ${fmtUs(coreP50)} | ${fmtUs(median(l2.coreP99))} | ${(coreP50 / rawP50).toFixed(2)}× |`,
  )
  console.log(
    `\nNode ${process.version}, ${ROUNDS} rounds, ${THROUGHPUT_WINDOW_MS} ms windows, ${LATENCY_SAMPLES} latency samples per round.`,
  )

  await Promise.all([core.close(), coreL2.close(), bento.disconnect(), baseline?.close()])
  redis.disconnect()
  await server.stop()
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
