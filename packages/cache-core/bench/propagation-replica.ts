/**
 * One replica of the propagation benchmark, in its own process: a cache on the shared Redis (one
 * server or a cluster) that
 * reports to its parent, over IPC, the moment each invalidation evicted a key here.
 */
import { createTieredCache } from '../src/index.js'
import { redisOf } from './redis-target.js'

// The seeds of the bench's Redis, as JSON: one server's URL, or a cluster's nodes.
const target = redisOf(JSON.parse(process.argv[2] ?? '[]') as string[])
const cache = createTieredCache<string>({
  redis: target.redis,
  prefix: 'bench-propagation',
  loader: async () => ({ value: 'v', version: 1 }),
})
let evicted: { key: string; version: number; at: number } | undefined
cache.events.on('invalidate', ({ key, version }) => {
  // Taken right after the eviction; wall-clock based, so comparable across processes.
  evicted = { key, version, at: performance.timeOrigin + performance.now() }
})
// Emitted right after 'invalidate' for the same message (both on the bus receive path), with what
// strata_invalidation_lag_seconds observes: publishedAt → eviction.
cache.events.on('invalidation-lag', ({ seconds }) => {
  if (evicted) process.send?.({ ...evicted, lag: seconds * 1000 })
  evicted = undefined
})
process.on('message', (message) => {
  if (message === 'stop')
    void cache.close().then(() => {
      target.close()
      process.exit(0)
    })
})
const ready = await cache.whenReady(10_000)
process.send?.({ ready })
