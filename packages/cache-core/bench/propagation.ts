/**
 * Invalidation propagation: from `invalidate()` resolving on the writer (the point where the API
 * acknowledges a write) to the key being evicted on every other replica, each replica being a
 * separate process on the same real Redis. Writes are sequential so no queueing is measured.
 *
 * Usage: pnpm --filter @strata/cache-core bench:propagation  (PROPAGATION_WRITES=N)
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startRedisServer } from '@strata/test-servers'
import { createTieredCache } from '../src/index.js'

const WRITES = Number(process.env.PROPAGATION_WRITES ?? 2_000)
const REPLICAS = 3
const now = () => performance.timeOrigin + performance.now()
const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

type Report = { key: string; version: number; at: number } | { ready: boolean }

async function main(): Promise<void> {
  const server = await startRedisServer()
  const script = fileURLToPath(new URL('./propagation-replica.ts', import.meta.url))
  const waiting = new Map<string, { left: number; latest: number; done: () => void }>()
  const children: ChildProcess[] = []
  for (let i = 0; i < REPLICAS; i++) {
    const child = fork(script, [server.url], { execArgv: ['--import', 'tsx'] })
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
        entry.latest = Math.max(entry.latest, report.at)
        if (--entry.left === 0) entry.done()
      })
    })
  }
  const writer = createTieredCache<string>({
    redis: server.url,
    prefix: 'bench-propagation',
    loader: async () => ({ value: 'v', version: 1 }),
  })
  await writer.whenReady()

  const fromAck: number[] = []
  const fromCall: number[] = []
  console.log(`${REPLICAS} replica processes ready; ${WRITES} sequential writes…`)
  for (let i = 1; i <= WRITES; i++) {
    const key = `key:${i % 100}`
    const evictedEverywhere = new Promise<number>((resolve) => {
      const entry = { left: REPLICAS, latest: 0, done: () => resolve(entry.latest) }
      waiting.set(`${key}@${i}`, entry)
    })
    const called = now()
    await writer.invalidate(key, i)
    const acked = now()
    const lastEviction = await evictedEverywhere
    waiting.delete(`${key}@${i}`)
    fromAck.push(lastEviction - acked)
    fromCall.push(lastEviction - called)
    if (i % 500 === 0) console.log(`  ${i}/${WRITES}`)
  }

  const row = (name: string, xs: number[]) =>
    `| ${name} | ${quantile(xs, 0.5).toFixed(3)} ms | ${quantile(xs, 0.99).toFixed(3)} ms | ${Math.max(...xs).toFixed(3)} ms |`
  console.log(
    `\n### Invalidation propagation to ${REPLICAS} other replica processes (${WRITES} writes)\n`,
  )
  console.log('| interval | p50 | p99 | max |')
  console.log('|---|---:|---:|---:|')
  console.log(row('`invalidate()` resolved (write ack) → evicted on every replica', fromAck))
  console.log(row('`invalidate()` called → evicted on every replica', fromCall))
  console.log(
    '\nNegative values mean every replica had evicted the key before the writer saw Redis reply.',
  )

  for (const child of children) child.send('stop')
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))))
  await writer.close()
  await server.stop()
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
