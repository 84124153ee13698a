import { startTcpProxy } from '@strata/testkit'
import { describe, expect, it } from 'vitest'
import { ClearError, InvalidationError } from '../src/index.js'
import { nextEvent, twoCachesOverK, useRedisTestbed, VersionedTable } from './helpers.js'

const bed = useRedisTestbed()

/** Polls a condition every 10 ms until it holds, for at most 10 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('bus loss', () => {
  it('serves nothing from L1 while the subscriber is down and starts empty after resubscribing', async () => {
    const { table, a, b } = await twoCachesOverK(bed, { instanceId: 'a' }, { instanceId: 'b' })
    await a.get('k')
    expect(await a.get('k')).toMatchObject({ level: 'L1' })

    const down = nextEvent(a, 'bus', (e) => e.state === 'down')
    const up = nextEvent(a, 'bus', (e) => e.state === 'up')
    await bed.redis.client('KILL', 'TYPE', 'pubsub')
    await down
    // While a's subscription is down, b's write would not reach it; a must not use L1 at all.
    expect(a.health().l1).toBe('bypassed')
    const duringOutage = await a.get('k')
    expect(duringOutage.level).not.toBe('L1')
    await b.invalidate('k', table.write('k', 'v2'))

    await up
    await a.whenReady()
    expect(a.stats().l1Size).toBe(0)
    expect(a.stats().busDisconnects).toBeGreaterThanOrEqual(1)
    expect(await a.get('k')).toMatchObject({ value: 'v2', version: 2 })
    expect(await a.get('k')).toMatchObject({ value: 'v2', level: 'L1' })
  })

  it('behaves the same across a Redis restart, and reads resolve through the loader meanwhile', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const a = await bed.caches.create({ loader: table.loader })
    await a.get('k')
    expect(await a.get('k')).toMatchObject({ level: 'L1' })

    const down = nextEvent(a, 'bus', (e) => e.state === 'down')
    await bed.server.stop()
    try {
      await down
      const whileDown = await a.get('k')
      // Not subscribed, so not synced: L2 is not even tried.
      expect(whileDown).toMatchObject({ value: 'v1', level: 'DB' })
      // The command connection may notice the closed socket a moment after the subscriber.
      await until(() => a.health().l2 === 'down')
      expect(a.health()).toMatchObject({ l1: 'bypassed', l2: 'down', bus: 'down' })

      // Writes are refused while Redis is away: no replica could be told.
      await expect(a.invalidate('k', table.write('k', 'v2'))).rejects.toBeInstanceOf(
        InvalidationError,
      )
      await expect(a.clear()).rejects.toBeInstanceOf(ClearError)
    } catch (error) {
      await bed.server.start() // leave a running server for the next tests
      throw error
    }

    const up = nextEvent(a, 'bus', (e) => e.state === 'up')
    await bed.server.start()
    await up
    expect(await a.whenReady(10_000)).toBe(true)
    expect(a.stats().l1Size).toBe(0)
    expect(await a.get('k')).toMatchObject({ value: 'v2', version: 2, level: 'DB' })
  })

  it('notices a dead subscriber link through its heartbeat', async () => {
    const table = new VersionedTable()
    const a = await bed.caches.create({ loader: table.loader, heartbeatInterval: 100 })
    const down = nextEvent(a, 'bus', (e) => e.state === 'down')
    // SIGSTOP freezes Redis: sockets stay open, so only a heartbeat that never comes back can tell.
    const pid = Number(
      ((await bed.redis.info('server')).match(/process_id:(\d+)/) ?? [])[1] ?? Number.NaN,
    )
    expect(Number.isInteger(pid)).toBe(true)
    process.kill(pid, 'SIGSTOP')
    try {
      await down
      expect(a.health().l1).toBe('bypassed')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    expect(await a.whenReady(10_000)).toBe(true)
  })
})

describe('a silent subscriber link', () => {
  it('stops L1 within the lease, keeps its entries, and resumes once a heartbeat comes back', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    table.write('other', 'o1')
    const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: bed.server.port } })
    try {
      const a = await bed.caches.create({ loader: table.loader, instanceId: 'a' })
      // The heartbeat is off and no command times out: only the lease can notice the silence.
      // A long lease keeps a loaded machine's event-loop delays from lapsing it on their own.
      const b = await bed.caches.create({
        loader: table.loader,
        instanceId: 'b',
        redis: `redis://127.0.0.1:${proxy.port}`,
        busLease: 1_000,
        redisCommandTimeout: 30_000,
      })
      for (const key of ['k', 'other']) await b.get(key)
      expect(b.peek('k')).toMatchObject({ value: 'v1', level: 'L1' })
      // A caller's own clock reading is checked against the lease the same way: 2 s from now
      // is past a 1 s lease.
      expect(b.peek('k', performance.now() + 2_000)).toBeUndefined()

      const lapsed = nextEvent(b, 'lease', (event) => !event.held)
      proxy.stall()
      // Acknowledged: Redis took the fence and the message, which is held up on its way to b.
      await a.invalidate('k', table.write('k', 'v2'))
      await lapsed
      expect(b.health().l1).toBe('bypassed')
      expect(b.peek('k')).toBeUndefined()
      expect(b.stats().l1Size).toBe(2)

      const renewed = nextEvent(b, 'lease', (event) => event.held)
      proxy.resume()
      await renewed
      expect(b.health().l1).toBe('serving')
      // Nothing was lost, so L1 kept its entries and the bus never went down; the held-up
      // message evicted `k` before the heartbeat that renewed the lease came back.
      expect(b.stats().busDisconnects).toBe(0)
      expect(b.peek('other')).toMatchObject({ value: 'o1', level: 'L1' })
      expect(b.peek('k')).toBeUndefined()
      expect(await b.get('k')).toMatchObject({ value: 'v2', version: 2 })
    } finally {
      await proxy.close()
    }
  })
})

describe('malformed bus messages', () => {
  it('counts them and empties L1 (a newer release may have sent them), and serves again', async () => {
    const table = new VersionedTable()
    table.write('k', 'v1')
    const a = await bed.caches.create({ loader: table.loader })
    await a.get('k')
    const channel = `${bed.prefix}:bus`
    const dropped = nextEvent(a, 'malformed')
    await bed.redis.publish(channel, 'not json at all')
    await dropped
    const second = nextEvent(a, 'malformed')
    await bed.redis.publish(
      channel,
      JSON.stringify({ v: 1, type: 'invalidate', key: 'k', version: -1 }),
    )
    await second
    const third = nextEvent(a, 'malformed')
    await bed.redis.publish(channel, JSON.stringify({ v: 2, type: 'explode', origin: 'x' }))
    await third
    expect(a.stats().malformedMessages).toBe(3)
    expect(a.stats().invalidationsReceived).toBe(0)
    expect(a.stats().l1Size).toBe(0)
    expect(await a.get('k')).toMatchObject({ level: 'L2', value: 'v1' })
    expect(await a.get('k')).toMatchObject({ level: 'L1', value: 'v1' })
  })
})
