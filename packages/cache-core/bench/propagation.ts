/**
 * Invalidation propagation: from `invalidate()` resolving on the writer (the point where the API
 * acknowledges a write) to the key being evicted on every other replica, each replica being a
 * separate process on the same real Redis. Writes are sequential so no queueing is measured.
 * The writes are split into rounds and each percentile is reported as the median of the rounds'
 * values next to their range: on a shared 2-core machine one scheduling hiccup moves a single
 * p99 by a millisecond, and the rounds show how much. The last row is what each replica's
 * `invalidation-lag` event (the API's strata_invalidation_lag_seconds) reports for the same
 * messages, from their `publishedAt`: it should sit a little under "called → evicted".
 *
 * Usage: pnpm --filter @strata/cache-core bench:propagation  (PROPAGATION_WRITES=N per round,
 * PROPAGATION_ROUNDS=N, PROPAGATION_REDIS=cluster for a Redis Cluster of 3 masters)
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createTieredCache } from '../src/index.js'
import { redisOf, startTarget, TARGET_LABEL } from './redis-target.js'

const WRITES = Number(process.env.PROPAGATION_WRITES ?? 1_000)
const ROUNDS = Number(process.env.PROPAGATION_ROUNDS ?? 5)
const REPLICAS = 3
// As the API's replicas run (tools/stack/src/components/replica.ts): GC helper threads would only
// compete for the same two cores.
const REPLICA_NODE_FLAGS = ['--single-threaded-gc', '--import', 'tsx']
const now = () => performance.timeOrigin + performance.now()
const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

type Report = { key: string; version: number; at: number; lag: number } | { ready: boolean }

async function main(): Promise<void> {
  const server = await startTarget()
  const script = fileURLToPath(new URL('./propagation-replica.ts', import.meta.url))
  const waiting = new Map<
    string,
    { left: number; latest: number; lags: number[]; done: () => void }
  >()
  const children: ChildProcess[] = []
  for (let i = 0; i < REPLICAS; i++) {
    const child = fork(script, [JSON.stringify(server.seeds)], { execArgv: REPLICA_NODE_FLAGS })
    children.push(child)
    await new Promise<void>((resolve, reject) => {
      child.on('message', (report: Report) => {
        if ('ready' in report) {
          if (report.ready) resolve()
          else reject(new Error('a replica did not come online'))
          return
        }
        const entry = waiting.get(`${report.key}@${report.version}`)
        if (!entry) return
        entry.lags.push(report.lag)
        entry.latest = Math.max(entry.latest, report.at)
        if (--entry.left === 0) entry.done()
      })
    })
  }
  const target = redisOf(server.seeds)
  const writer = createTieredCache<string>({
    redis: target.redis,
    prefix: 'bench-propagation',
    loader: async () => ({ value: 'v', version: 1 }),
  })
  await writer.whenReady()

  type Round = { fromAck: number[]; fromCall: number[]; lag: number[] }
  const rounds: Round[] = []
  console.log(
    `${REPLICAS} replica processes ready; ${ROUNDS} rounds of ${WRITES} sequential writes…`,
  )
  let version = 0
  for (let r = 1; r <= ROUNDS; r++) {
    const round: Round = { fromAck: [], fromCall: [], lag: [] }
    for (let i = 1; i <= WRITES; i++) {
      version++
      const key = `key:${version % 100}`
      const lags: number[] = []
      const evictedEverywhere = new Promise<number>((resolve) => {
        const entry = { left: REPLICAS, latest: 0, lags, done: () => resolve(entry.latest) }
        waiting.set(`${key}@${version}`, entry)
      })
      const called = now()
      await writer.invalidate(key, version)
      const acked = now()
      const lastEviction = await evictedEverywhere
      waiting.delete(`${key}@${version}`)
      round.fromAck.push(lastEviction - acked)
      round.fromCall.push(lastEviction - called)
      round.lag.push(...lags)
    }
    rounds.push(round)
    const p99 = quantile(round.fromAck, 0.99).toFixed(3)
    console.log(`  round ${r}/${ROUNDS}: ack → evicted everywhere p99 ${p99} ms`)
  }

  const ms = (x: number) => `${x.toFixed(3)} ms`
  const cell = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
    return `${ms(median)} (${sorted[0]?.toFixed(3)}–${sorted.at(-1)?.toFixed(3)})`
  }
  const row = (name: string, pick: (round: Round) => number[]) => {
    const perRound = rounds.map(pick)
    const p50 = cell(perRound.map((xs) => quantile(xs, 0.5)))
    const p99 = cell(perRound.map((xs) => quantile(xs, 0.99)))
    const max = ms(Math.max(...perRound.flat()))
    return `| ${name} | ${p50} | ${p99} | ${max} |`
  }
  console.log(
    `\n### Invalidation propagation to ${REPLICAS} other replica processes on ${TARGET_LABEL} (${ROUNDS} rounds of ${WRITES} writes)\n`,
  )
  console.log(
    '| interval | p50, median of rounds (range) | p99, median of rounds (range) | max of all |',
  )
  console.log('|---|---:|---:|---:|')
  console.log(
    row('`invalidate()` resolved (write ack) → evicted on every replica', (x) => x.fromAck),
  )
  console.log(row('`invalidate()` called → evicted on every replica', (x) => x.fromCall))
  console.log(
    row('`publishedAt` → evicted, per replica (`strata_invalidation_lag_seconds`)', (x) => x.lag),
  )
  console.log(
    '\nNegative values mean every replica had evicted the key before the writer saw Redis reply.',
  )

  for (const child of children) child.send('stop')
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))))
  await writer.close()
  target.close()
  await server.stop()
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
