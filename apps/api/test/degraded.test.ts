import { describe, expect, it } from 'vitest'
import { read, startCluster, startReplica, type TestReplica, write } from './harness.js'

const {
  servers,
  replicas: [a, b],
} = await startCluster({}, {})

const busState = (replica: TestReplica, state: 'up' | 'down') =>
  new Promise<void>((resolve) => {
    if (replica.deps.cache.stats().busState === state) return resolve()
    const listener = (e: { state: string }) => {
      if (e.state !== state) return
      replica.deps.cache.events.off('bus', listener)
      resolve()
    }
    replica.deps.cache.events.on('bus', listener)
  })

describe('Redis down', () => {
  it('keeps answering reads from PostgreSQL, refuses writes with 503 and changes nothing', async () => {
    await write(a, 'k', 'before')
    await read(a, 'k')
    await read(b, 'k')
    expect((await read(b, 'k')).level).toBe('L1')

    await servers.redis.stop()
    await Promise.all([busState(a, 'down'), busState(b, 'down')])

    for (const replica of [a, b]) {
      for (let i = 0; i < 5; i++) {
        const r = await read(replica, 'k')
        expect(r).toMatchObject({ status: 200, level: 'DB', body: { value: 'before' } })
      }
      expect((await read(replica, 'missing')).status).toBe(404)
    }
    const refused = await a.request('/write', { json: { key: 'k', value: 'during' } })
    expect(refused.status).toBe(503)
    expect(await refused.json()).toMatchObject({
      success: false,
      error: { code: 'CACHE_UNAVAILABLE' },
    })
    const deleteRefused = await a.request('/delete', { json: { key: 'k' } })
    expect(deleteRefused.status).toBe(503)
    const [row] = await a.deps.db.sql<
      { value: string; version: string }[]
    >`SELECT value, version FROM records WHERE key = 'k'`
    expect(row).toEqual({ value: 'before', version: '1' })

    // The command connection may notice the closed socket a moment after the subscriber.
    for (const deadline = Date.now() + 10_000; a.deps.cache.health().l2 !== 'down'; ) {
      if (Date.now() > deadline) throw new Error('L2 still reported up 10 s after Redis stopped')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const health = await a.request('/health')
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({
      status: 'degraded',
      database: 'connected',
      l1_cache: 'bypassed',
      l2_cache: 'disconnected',
      checks: { l1: 'bypassed', l2: 'down', bus: 'down' },
    })
    const stats = (await (await a.request('/cache-stats')).json()) as {
      cluster: { error?: string }
    }
    expect(stats.cluster.error).toMatch(/Redis unavailable/)

    await servers.redis.start()
    await Promise.all([busState(a, 'up'), busState(b, 'up')])
    expect(await a.deps.cache.whenReady(10_000)).toBe(true)
    expect(await b.deps.cache.whenReady(10_000)).toBe(true)
    expect(b.deps.cache.stats().l1Size).toBe(0)
    const version = await write(a, 'k', 'after')
    expect((await read(b, 'k')).body).toMatchObject({ value: 'after', version })
  })
})

/** Polls `attempt` every 50 ms until it returns true; fails after `timeoutMs`. */
async function until(what: string, timeoutMs: number, attempt: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('PostgreSQL down', () => {
  it('serves cached reads, refuses the rest with 503 at once, and is back as soon as PostgreSQL is', async () => {
    await write(a, 'cached', 'v1')
    // The Redis restart of the test before is a data loss: for maxWriteTime after it, loads are
    // not cached (a write fenced before it may still have been committing).
    await until(
      'L1 serving once the quarantine after the Redis restart is over',
      10_000,
      async () => {
        await read(a, 'cached')
        return (await read(a, 'cached')).level === 'L1'
      },
    )

    await servers.postgres.halt()
    try {
      expect(await read(a, 'cached')).toMatchObject({ status: 200, level: 'L1' })
      // A burst of reads and writes that need the database: every one is answered with 503 while
      // PostgreSQL stays down; none is left waiting in the driver's queue for a reconnection.
      const burst = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          i % 2 === 0
            ? a.request(`/read/uncached-${i}`)
            : a.request('/write', { json: { key: `outage-${i}`, value: 'x' } }),
        ),
      )
      for (const response of burst) {
        expect(response.status).toBe(503)
        expect(await response.json()).toMatchObject({ error: { code: 'DATABASE_UNAVAILABLE' } })
      }
      const health = await a.request('/health')
      expect(health.status).toBe(503)
      expect(await health.json()).toMatchObject({
        database: 'disconnected',
        checks: { database: { status: 'down' } },
      })
    } finally {
      await servers.postgres.start()
    }

    // Back within a few probes, not after the driver's reconnect backoff (up to 20 s).
    await until('a write acknowledged after PostgreSQL is back', 5_000, async () => {
      const response = await a.request('/write', { json: { key: 'after', value: 'v' } })
      return response.status === 200
    })
    // Nothing refused during the outage was written.
    const [row] = await a.deps.db.sql<{ count: string }[]>`
      SELECT count(*) AS count FROM records WHERE key LIKE 'outage-%'`
    expect(row?.count).toBe('0')
  })
})

describe('PostgreSQL going away mid-transaction', () => {
  it('fails the write with 503 instead of crashing the replica when the backend dies before COMMIT', async () => {
    await write(a, 'mid', 'v1')
    const redisPid = Number(
      /process_id:(\d+)/.exec((await a.deps.redis?.info('server')) ?? '')?.[1] ?? Number.NaN,
    )
    expect(Number.isInteger(redisPid)).toBe(true)
    // Holds the write between its upsert and its COMMIT: the invalidation waits on Redis.
    process.kill(redisPid, 'SIGSTOP')
    const pending = a.request('/write', { json: { key: 'mid', value: 'v2' } })
    try {
      await until('the write to be inside its transaction', 10_000, async () => {
        const [row] = await b.deps.db.sql<{ count: string }[]>`
          SELECT count(*) AS count FROM pg_stat_activity WHERE state = 'idle in transaction'`
        return row?.count === '1'
      })
      // The backend holding the transaction dies; the connection is gone before COMMIT is sent.
      await servers.postgres.halt()
    } finally {
      process.kill(redisPid, 'SIGCONT')
    }
    // The driver used to write the COMMIT to the closed socket from a setImmediate and crash
    // the process with an uncaught TypeError; now the write fails like any database error.
    const response = await pending
    expect(response.status).toBe(503)
    // DATABASE_UNAVAILABLE from the COMMIT; CACHE_UNAVAILABLE if a slow shutdown let the
    // invalidation time out first (then the ROLLBACK met the closed connection). Nothing changed.
    const { error } = (await response.json()) as { error: { code: string } }
    expect(['DATABASE_UNAVAILABLE', 'CACHE_UNAVAILABLE']).toContain(error.code)
    await servers.postgres.start()
    await until('PostgreSQL to be back for the replica', 10_000, async () => {
      const health = await a.request('/health')
      return health.status === 200
    })
    expect((await read(a, 'mid')).body).toMatchObject({ value: 'v1', version: 1 })
  })
})

describe('cache modes', () => {
  it('none: every read comes from PostgreSQL and Redis is never needed', async () => {
    const none = await startReplica(servers, {
      CACHE_MODE: 'none',
      REDIS_URL: 'redis://127.0.0.1:1',
    })
    try {
      await write(none, 'mode-none', 'v')
      expect((await read(none, 'mode-none')).level).toBe('DB')
      expect((await read(none, 'mode-none')).level).toBe('DB')
      expect(await (await none.request('/health')).json()).toMatchObject({
        status: 'healthy',
        cache_mode: 'none',
        l1_cache: 'disabled',
        l2_cache: 'disabled',
        checks: { l1: 'off', l2: 'off', bus: 'off' },
      })
    } finally {
      await none.close()
    }
  })

  it('l2: reads are served from Redis, never from L1', async () => {
    const l2 = await startReplica(servers, { CACHE_MODE: 'l2' })
    try {
      await write(l2, 'mode-l2', 'v')
      // The writer's fill after its commit, then the same record again.
      expect((await read(l2, 'mode-l2')).level).toBe('L2')
      expect((await read(l2, 'mode-l2')).level).toBe('L2')
      expect((await read(l2, 'mode-l2')).level).toBe('L2')
    } finally {
      await l2.close()
    }
  })

  it('l1: reads are served from L1 and invalidated over the bus', async () => {
    const [x, y] = await Promise.all([
      startReplica(servers, { CACHE_MODE: 'l1' }),
      startReplica(servers, { CACHE_MODE: 'l1' }),
    ])
    try {
      await write(x, 'mode-l1', 'v1')
      await read(y, 'mode-l1')
      expect((await read(y, 'mode-l1')).level).toBe('L1')
      const heard = new Promise<void>((resolve) =>
        y.deps.cache.events.once('invalidate', () => resolve()),
      )
      const version = await write(x, 'mode-l1', 'v2')
      await heard
      expect(await read(y, 'mode-l1')).toMatchObject({
        level: 'DB',
        body: { value: 'v2', version },
      })
    } finally {
      await Promise.all([x.close(), y.close()])
    }
  })
})
