import { describe, expect, it } from 'vitest'
import { wallClockMs } from '../src/bus/messages.js'
import type { CacheEvents, TieredCache } from '../src/index.js'
import { nextEvent, useRedisTestbed, VersionedTable } from './helpers.js'

// Every invalidation and clear says when it was published (`publishedAt`, the sender's wall clock);
// the receiver reports how long after that it applied it. Messages without the field (from a
// release before it) or with one it cannot read still act in full, only without a lag.

const bed = useRedisTestbed()
let markers = 0

type Lag = CacheEvents['invalidation-lag']

/** A replica whose L1 holds `key`, and the lags it reports. */
async function replica(key = 'k'): Promise<{ cache: TieredCache<string>; lags: Lag[] }> {
  const table = new VersionedTable()
  table.write(key, 'v')
  const cache = await bed.caches.create({ loader: table.loader })
  await cache.get(key)
  expect(cache.peek(key)).toBeDefined()
  const lags: Lag[] = []
  cache.events.on('invalidation-lag', (lag) => lags.push(lag))
  return { cache, lags }
}

/**
 * Publishes `fields` as an invalidation from `tester`, then a marker without `publishedAt`, and
 * resolves once `cache` heard the marker: one connection's messages arrive in order.
 */
async function publish(cache: TieredCache<string>, fields: Record<string, unknown>) {
  const channel = `${bed.prefix}:bus`
  const version = ++markers
  const heard = nextEvent(cache, 'invalidate', (e) => e.key === '__marker__')
  const message = { v: 1, type: 'invalidate', key: 'k', version: 1, origin: 'tester', ...fields }
  await bed.redis.publish(channel, JSON.stringify(message))
  await bed.redis.publish(
    channel,
    JSON.stringify({ v: 1, type: 'invalidate', key: '__marker__', version, origin: 'tester' }),
  )
  await heard
}

describe('invalidation lag', () => {
  it('reports the time from the sender publish to the eviction, on the sender clock', async () => {
    const { cache, lags } = await replica()
    const before = wallClockMs()
    await publish(cache, { publishedAt: before - 2_000 })
    const measured = (wallClockMs() - before) / 1000
    expect(cache.peek('k')).toBeUndefined()
    expect(lags).toHaveLength(1)
    expect(lags[0]).toMatchObject({ type: 'invalidate', origin: 'tester' })
    expect(lags[0]?.seconds).toBeGreaterThanOrEqual(2)
    expect(lags[0]?.seconds).toBeLessThanOrEqual(2 + measured)
  })

  it('reads a sender clock ahead of its own as no lag rather than a negative one', async () => {
    const { cache, lags } = await replica()
    await publish(cache, { publishedAt: wallClockMs() + 60_000 })
    expect(cache.peek('k')).toBeUndefined()
    expect(lags.map((lag) => lag.seconds)).toEqual([0])
  })

  it.each([
    ['without publishedAt (an older release)', {}],
    ['with a publishedAt it cannot read', { publishedAt: 'yesterday' }],
    ['with a negative publishedAt', { publishedAt: -1 }],
  ])(
    'applies an invalidation %s in full, with no lag and nothing malformed',
    async (_n, fields) => {
      const { cache, lags } = await replica()
      await publish(cache, fields)
      expect(cache.peek('k')).toBeUndefined()
      expect(cache.stats()).toMatchObject({ malformedMessages: 0, invalidationsReceived: 2 })
      expect(lags).toEqual([])
    },
  )

  it('is reported for a peer invalidation and clear, and never for its own', async () => {
    const { cache: a, lags } = await replica()
    const table = new VersionedTable()
    const b = await bed.caches.create({ loader: table.loader })
    const ownLags: Lag[] = []
    b.events.on('invalidation-lag', (lag) => ownLags.push(lag))
    const heard = nextEvent(a, 'invalidation-lag')
    await b.invalidate('k', 5)
    await heard
    const cleared = nextEvent(a, 'invalidation-lag', (lag) => lag.type === 'clear')
    await b.clear()
    await cleared
    expect(lags.map((lag) => lag.type)).toEqual(['invalidate', 'clear'])
    // Both clocks are this process's: the lag is the real delivery time, well under a second
    // even on a loaded machine.
    for (const lag of lags) expect(lag.seconds).toBeLessThan(5)
    expect(ownLags).toEqual([])
  })
})
