/**
 * What an L1 hit costs at the node listener, with tracing off and on, and (optionally) in another
 * build: each contender is a replica's real request listener (`createHandler`) over real
 * PostgreSQL and Redis, fed `GET /read/{key}` for a key in its L1 through a stub request and
 * response (no socket: the socket write costs the same on every side and would drown the
 * difference). Rounds are interleaved, rotating the order; CPU time per request, median of rounds.
 *
 * Usage: pnpm --filter @strata/api bench:listener
 *   BENCH_BASELINE=<another checkout's apps/api/dist>  adds that build as a contender
 *   BENCH_TRACING_ON=0  leaves out the contenders with tracing on (for off against a baseline)
 *   BENCH_ROUNDS=N (default 9), BENCH_REQUESTS=N per round and contender (default 20000)
 *
 * "tracing on" exports every span over OTLP/HTTP to a sink in this process (a batch every 100 ms,
 * a queue large enough that no span is dropped), and each measured window ends with a flush, so
 * its figure includes making, batching, serializing and sending the spans.
 */
import { EventEmitter } from 'node:events'
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startPostgresServer, startRedisServer } from '@strata/test-servers'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000)
const BASELINE = process.env.BENCH_BASELINE
// The contenders with tracing on run the same fast-path code as "tracing off" in this process,
// with responses of another shape, which makes its call sites polymorphic: off against a baseline
// is measured without them (BENCH_TRACING_ON=0), as it runs in production.
const TRACING_ON = process.env.BENCH_TRACING_ON !== '0'
const KEY = 'bench:hot'
// Read by the span processor when the replica with tracing on builds it.
process.env.OTEL_BSP_SCHEDULE_DELAY = '100'
process.env.OTEL_BSP_MAX_QUEUE_SIZE = String(REQUESTS * 2)
process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE = '2048'

/** The modules of one build of the API that a contender needs. */
interface Build {
  parseEnv(
    source: Record<string, string>,
  ): { ok: true; env: object } | { ok: false; problems: string[] }
  createDeps(env: object): {
    db: { sql: unknown }
    cache: { whenReady(ms: number): Promise<boolean> }
    tracing?: { flush(): Promise<void> }
    close(): Promise<void>
  }
  migrate(sql: unknown): Promise<void>
  createHandler(deps: unknown): {
    listener: RequestListener
    app: { request(path: string, init: RequestInit): Response | Promise<Response> }
  }
}

async function loadBuild(dist: string): Promise<Build> {
  const from = (file: string) => import(new URL(file, dist).href)
  const [env, deps, migrate, app] = await Promise.all([
    from('env.js'),
    from('deps.js'),
    from('db/migrate.js'),
    from('app.js'),
  ])
  return { ...env, ...deps, ...migrate, ...app } as Build
}

/** A response that takes what the listener writes and says `close` at its end, as node's does. */
class StubResponse extends EventEmitter {
  statusCode = 200
  level: unknown
  writeHead(status: number, headers?: Record<string, unknown>) {
    this.statusCode = status
    this.level = headers?.['x-cache-level']
    return this
  }
  getHeader() {
    return undefined
  }
  end() {
    this.emit('close')
    return this
  }
}

const request = {
  method: 'GET',
  url: `/read/${KEY}`,
  rawHeaders: ['Host', '127.0.0.1:8080'],
  headers: { host: '127.0.0.1:8080' },
}

interface Contender {
  name: string
  listener: RequestListener
  flush: () => Promise<void>
  close: () => Promise<void>
}

async function contender(
  name: string,
  build: Build,
  urls: { DATABASE_URL: string; REDIS_URL: string },
  extra: Record<string, string>,
): Promise<Contender> {
  const parsed = build.parseEnv({
    ...urls,
    REPLICA_ID: name.replace(/[^\w.:-]/g, '-'),
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    // A lease of a second: a busy machine must not pause L1 in the middle of a window.
    BUS_LEASE: '1',
    // The key stays in L1 for the whole run.
    L1_CACHE_TTL: '3600',
    ...extra,
  })
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
  const deps = build.createDeps(parsed.env)
  await build.migrate(deps.db.sql)
  if (!(await deps.cache.whenReady(10_000))) throw new Error(`${name}: the cache did not come up`)
  const { listener, app } = build.createHandler(deps)
  // Written once, by the first contender: a write would evict the key from the others' L1.
  if (contenders.length === 0) {
    const written = await app.request('/write', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: KEY, value: 'v'.repeat(100) }),
    })
    if (written.status !== 200) throw new Error(`writing ${KEY} answered ${written.status}`)
  }
  // Reads the key until this replica answers it from L1 (the first read loads it).
  for (let attempt = 0; ; attempt++) {
    const res = new StubResponse()
    const closed = new Promise((resolve) => res.once('close', resolve))
    listener(request as never, res as never)
    await closed
    if (res.level === 'L1') break
    if (attempt > 200) throw new Error(`${name}: ${KEY} never served from L1`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return {
    name,
    listener,
    flush: () => deps.tracing?.flush() ?? Promise.resolve(),
    close: () => deps.close(),
  }
}

/** CPU microseconds per request of `requests` L1 hits (yielding now and then, for heartbeats). */
async function measure(c: Contender): Promise<number> {
  let res = new StubResponse()
  const before = process.cpuUsage()
  for (let i = 0; i < REQUESTS; i++) {
    // One response per request, as node makes one (tracing wraps each one's writeHead).
    res = new StubResponse()
    c.listener(request as never, res as never)
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve))
  }
  await c.flush()
  const used = process.cpuUsage(before)
  if (res.level !== 'L1') throw new Error(`${c.name}: the last read was not an L1 hit`)
  return (used.user + used.system) / REQUESTS
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const contenders: Contender[] = []
const [postgres, redis] = await Promise.all([startPostgresServer(), startRedisServer()])
// The OTLP/HTTP sink "tracing on" exports to: takes every batch, answers 200.
const sink = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
})
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`
try {
  const urls = { DATABASE_URL: postgres.url, REDIS_URL: redis.url }
  const self = await loadBuild(new URL('../dist/', import.meta.url).href)
  contenders.push(await contender('tracing off', self, urls, {}))
  if (TRACING_ON) {
    contenders.push(
      await contender('tracing on', self, urls, { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl }),
    )
    // The SDK reads its sampler from the environment when the provider is built.
    process.env.OTEL_TRACES_SAMPLER = 'parentbased_traceidratio'
    process.env.OTEL_TRACES_SAMPLER_ARG = '0.01'
    contenders.push(
      await contender('tracing on, 1% sampled', self, urls, {
        OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
      }),
    )
    delete process.env.OTEL_TRACES_SAMPLER
    delete process.env.OTEL_TRACES_SAMPLER_ARG
  }
  if (BASELINE) {
    const dist = new URL(`${BASELINE.replace(/\/?$/, '/')}`, `file://${process.cwd()}/`).href
    contenders.push(await contender(`baseline (${BASELINE})`, await loadBuild(dist), urls, {}))
  }
  console.log(`${ROUNDS} interleaved rounds of ${REQUESTS} L1 hits per contender…`)
  const samples = new Map(contenders.map((c) => [c, [] as number[]]))
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(round + i) % contenders.length] as Contender
      samples.get(c)?.push(await measure(c))
    }
  }
  const reference = median(samples.get(contenders[0] as Contender) ?? [])
  console.log('\n| contender | CPU µs per L1 hit (median) | vs tracing off |\n|---|---:|---:|')
  for (const c of contenders) {
    const cost = median(samples.get(c) ?? [])
    console.log(`| ${c.name} | ${cost.toFixed(2)} | ${(cost / reference).toFixed(2)}× |`)
  }
  console.log(
    `\nNode ${process.version}, ${ROUNDS} rounds × ${REQUESTS} requests, stub request and response.`,
  )
} finally {
  await Promise.all(contenders.map((c) => c.close()))
  sink.close()
  await Promise.all([postgres.stop(), redis.stop()])
}
