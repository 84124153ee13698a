import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DatabaseUnavailableError } from '../src/db/client.js'
import { DatabaseTimeoutError } from '../src/db/deadline-socket.js'
import { fastReadKey, withFastRead } from '../src/http/fast-read.js'
import {
  ADMIN_TOKEN,
  eventually,
  read,
  requestOverSocket,
  startCluster,
  startReplica,
  type TestReplica,
  write,
} from './harness.js'

const {
  servers,
  replicas: [a, b],
} = await startCluster({ REPLICA_ID: 'replica-a' }, { REPLICA_ID: 'replica-b' })

/** Resolves once `replica` has heard the invalidation of `key` at `version` on the bus. */
const heard = (replica: TestReplica, key: string, version: number) =>
  new Promise<void>((resolve) => {
    const listener = (e: { key: string; version: number }) => {
      if (e.key !== key || e.version < version) return
      replica.deps.cache.events.off('invalidate', listener)
      resolve()
    }
    replica.deps.cache.events.on('invalidate', listener)
  })

describe('POST /write and GET /read/{key}', () => {
  it('writes, and versions grow by one per write', async () => {
    const response = await a.request('/write', { json: { key: 'greeting', value: 'hello' } })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      success: true,
      key: 'greeting',
      version: 1,
      message: expect.any(String),
    })
    expect(await write(a, 'greeting', 'hello again')).toBe(2)
  })

  it('walks L2 (the writer’s fill) → L1 on one replica, then L2 → L1 on another', async () => {
    await write(a, 'walk', 'v')
    // The writer filled L2 with the row it committed: no replica loads it.
    const first = await read(a, 'walk')
    expect(first).toMatchObject({ status: 200, level: 'L2', replicaId: 'replica-a' })
    expect(first.body).toMatchObject({
      success: true,
      key: 'walk',
      value: 'v',
      version: 1,
      cache_level: 'L2',
      from_cache: true,
    })
    expect(first.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(first.body.updated_at).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect((await read(a, 'walk')).body).toMatchObject({ cache_level: 'L1', from_cache: true })
    expect(await read(b, 'walk')).toMatchObject({
      level: 'L2',
      body: { value: 'v', from_cache: true },
    })
    expect(await read(b, 'walk')).toMatchObject({ level: 'L1', replicaId: 'replica-b' })
  })

  it('never serves the old version on another replica once the write is acknowledged + 100 ms', async () => {
    await write(a, 'coherent', 'old')
    await read(b, 'coherent')
    expect((await read(b, 'coherent')).level).toBe('L1')
    const version = await write(a, 'coherent', 'new')
    // The bound under test: 100 ms after the acknowledgement, no replica serves the old version.
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await read(b, 'coherent')).body).toMatchObject({ value: 'new', version })
  })

  it('serves the new version on the writing replica at once (read-your-writes)', async () => {
    await write(a, 'ryw', 'one')
    await read(a, 'ryw')
    const version = await write(a, 'ryw', 'two')
    expect((await read(a, 'ryw')).body).toMatchObject({ value: 'two', version })
  })

  it('answers 404 for an unknown key, caches the miss briefly, and a write ends it', async () => {
    const miss = await read(a, 'ghost')
    expect(miss.status).toBe(404)
    expect(miss.body).toEqual({
      success: false,
      key: 'ghost',
      message: 'Key not found',
      cache_level: 'DB',
      from_cache: false,
      error: { code: 'KEY_NOT_FOUND', message: expect.any(String) },
    })
    expect(miss.replicaId).toBe('replica-a')
    expect(miss.level).toBe('DB')
    expect(await read(a, 'ghost')).toMatchObject({
      status: 404,
      level: 'L1',
      body: { from_cache: true },
    })
    const heardByA = heard(a, 'ghost', 1)
    await write(b, 'ghost', 'boo')
    await heardByA
    expect(await read(a, 'ghost')).toMatchObject({ status: 200, body: { value: 'boo' } })
  })
})

/** Servers the tests below start beside the replicas', closed after the file's last test. */
const extraServers: Server[] = []
afterAll(async () => {
  for (const server of extraServers) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** Serves `listener` on a free loopback port; resolves with its base URL. */
async function listen(listener: RequestListener): Promise<string> {
  const server = createServer(listener)
  extraServers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Each replica served by its router alone (the adapter without the fast path). */
const routerOnly = new Map<TestReplica, Promise<string>>()

/** Status, body and every header but Date. */
const answer = async (response: Response) => ({
  status: response.status,
  body: await response.text(),
  headers: [...response.headers].filter(([name]) => name !== 'date').sort(),
})

/** One request over a real socket to the replica's own server and to its router alone. */
async function both(replica: TestReplica, path: string, headers: Record<string, string> = {}) {
  let routerUrl = routerOnly.get(replica)
  if (routerUrl === undefined) {
    routerUrl = listen(getRequestListener(replica.app.fetch))
    routerOnly.set(replica, routerUrl)
  }
  return {
    served: await answer(await replica.overSocket(path, { headers })),
    routed: await answer(await requestOverSocket(await routerUrl, path, { headers })),
  }
}

describe('the L1 fast path', () => {
  const l1Hits = () => a.deps.cache.stats().l1Hits

  it('answers an L1 hit exactly as the router does: status, body and headers', async () => {
    await write(a, 'fast', 'lane')
    await read(a, 'fast')
    const before = l1Hits()
    const { served, routed } = await both(a, '/read/fast', { 'X-Request-Id': 'same-id' })
    // Both were L1 hits, and only the router's went through cache.get (counted the same way).
    expect(l1Hits()).toBe(before + 2)
    expect(served).toEqual(routed)
    expect(served.status).toBe(200)
    expect(served.headers).toEqual(
      expect.arrayContaining([
        ['content-type', 'application/json'],
        ['content-length', String(Buffer.byteLength(served.body))],
        ['x-cache-level', 'L1'],
        ['x-replica-id', 'replica-a'],
        ['x-request-id', 'same-id'],
      ]),
    )
  })

  it('generates a request id when the client sends none or a malformed one', async () => {
    for (const headers of [{}, { 'X-Request-Id': 'has spaces' }]) {
      const response = await a.overSocket('/read/fast', { headers })
      expect(response.headers.get('x-cache-level')).toBe('L1')
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/)
    }
  })

  it('answers a cached miss from L1 with the same 404', async () => {
    await read(a, 'fast-ghost')
    const { served, routed } = await both(a, '/read/fast-ghost', { 'X-Request-Id': 'ghost-id' })
    expect(served.status).toBe(404)
    expect(served.headers).toContainEqual(['x-cache-level', 'L1'])
    expect(served).toEqual(routed)
  })

  it('decodes percent-encoded keys the way the router does, and ignores the query', async () => {
    for (const key of ['a b/ü', '100%', "it's:(fine)"]) {
      await write(a, key, 'encoded')
      await read(a, key)
      const path = `/read/${encodeURIComponent(key)}?ignored=1`
      const { served, routed } = await both(a, path, { 'X-Request-Id': 'id' })
      expect(served.headers, key).toContainEqual(['x-cache-level', 'L1'])
      expect(JSON.parse(served.body), key).toMatchObject({ key, value: 'encoded' })
      expect(served, key).toEqual(routed)
    }
  })

  it('leaves dot segments, misses, other methods and malformed paths to the router', async () => {
    // A URL cannot name the keys `.` and `..` (the URL parser removes dot segments, and the API
    // refuses them as keys), so the fast path must not answer them from L1 even when L1 holds
    // them: here, cached misses put there through the library.
    for (const key of ['.', '..']) {
      await a.deps.cache.get(key)
      expect(a.deps.cache.peek(key)).toBeDefined()
    }
    for (const path of ['/read/.', '/read/..', '/read/%2e', '/read/.%2E']) {
      const { served, routed } = await both(a, path, { 'X-Request-Id': 'dot' })
      expect(served.status, path).toBe(404)
      expect(served, path).toEqual(routed)
    }
    expect(fastReadKey('GET', '/read/a%5Cb')).toBe('a\\b')
    expect(fastReadKey('GET', '/read/a\\b')).toBeUndefined()
    expect(fastReadKey('HEAD', '/read/fast')).toBeUndefined()
    expect(fastReadKey('GET', '/read/a/b')).toBeUndefined()
    expect(fastReadKey('GET', 'http://host/read/fast')).toBeUndefined()
    expect((await a.overSocket('/read/not-cached-yet')).headers.get('x-cache-level')).toBe('DB')
    expect((await a.overSocket('/read/fast', { method: 'DELETE' })).status).toBe(405)
    const head = await a.overSocket('/read/fast', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('x-cache-level')).toBe('L1')
    expect((await a.overSocket('/read/%E0%A4%A')).status).toBe(404)
    expect((await a.overSocket('/read/')).status).toBe(404)
  })

  it('counts fast-path reads and their durations in the metrics', async () => {
    await read(a, 'fast')
    const metric = (text: string, pattern: RegExp) => Number(pattern.exec(text)?.[1])
    const reads = /strata_cache_reads_total\{level="L1",replica="replica-a"\} (\d+)/
    const durations =
      /strata_http_request_duration_seconds_count\{route="\/read\/:key",method="GET",status="200",replica="replica-a"\} (\d+)/
    const before = await (await a.overSocket('/metrics')).text()
    const hit = await a.overSocket('/read/fast')
    expect(hit.headers.get('x-cache-level')).toBe('L1')
    const after = await (await a.overSocket('/metrics')).text()
    expect(metric(after, reads)).toBe(metric(before, reads) + 1)
    expect(metric(after, durations)).toBe(metric(before, durations) + 1)
  })
})

describe('the read fast path beyond L1', () => {
  // Every read of an `l2` replica that L2 holds is an L2 hit, every read of a `none` replica a
  // database read: the same request can go to the fast path and to the router alone.
  let l2: TestReplica
  let none: TestReplica
  beforeAll(async () => {
    ;[l2, none] = await Promise.all([
      startReplica(servers, { CACHE_MODE: 'l2', REPLICA_ID: 'replica-l2' }),
      startReplica(servers, { CACHE_MODE: 'none', REPLICA_ID: 'replica-none' }),
    ])
  })
  afterAll(async () => {
    await Promise.all([l2?.close(), none?.close()])
  })

  /** The request to both servers; the answers must be equal, from `level`, with `status`. */
  async function expectSame(
    replica: TestReplica,
    path: string,
    status: number,
    level: string | undefined,
  ) {
    const { served, routed } = await both(replica, path, { 'X-Request-Id': 'beyond-l1' })
    expect(served, path).toEqual(routed)
    expect(served.status, path).toBe(status)
    const named = Object.fromEntries(served.headers)
    expect(named['x-cache-level'], path).toBe(level)
    expect(named['x-request-id'], path).toBe('beyond-l1')
    expect(named['content-length'], path).toBe(String(Buffer.byteLength(served.body)))
    return JSON.parse(served.body) as Record<string, unknown>
  }

  /** Reads `key` from `replica` until L2 answers it (the first read fills L2). */
  const untilInL2 = (replica: TestReplica, key: string) =>
    eventually(async () => expect((await read(replica, key)).level).toBe('L2'))

  it('answers L2 hits and L2 404s exactly as the router does', async () => {
    await write(a, 'beyond:l2', 'from redis')
    await untilInL2(l2, 'beyond:l2')
    const body = await expectSame(l2, '/read/beyond%3Al2', 200, 'L2')
    expect(body).toMatchObject({ key: 'beyond:l2', value: 'from redis', from_cache: true })
    await untilInL2(l2, 'beyond:l2-ghost')
    await expectSame(l2, '/read/beyond:l2-ghost?q=1', 404, 'L2')
  })

  it('answers database reads and database 404s exactly as the router does', async () => {
    await write(a, 'beyond:db', 'from postgres')
    const body = await expectSame(none, '/read/beyond:db', 200, 'DB')
    expect(body).toMatchObject({ value: 'from postgres', cache_level: 'DB', from_cache: false })
    await expectSame(none, '/read/beyond:db-ghost', 404, 'DB')
  })

  it("answers a failed load with the router's error: status, body and headers", async () => {
    const track = none.deps.db.track
    const failures: [Error, number, string][] = [
      [new DatabaseUnavailableError(), 503, 'DATABASE_UNAVAILABLE'],
      [new DatabaseTimeoutError(1000), 503, 'DATABASE_UNAVAILABLE'],
      [new Error('a bug'), 500, 'INTERNAL'],
    ]
    try {
      for (const [error, status, code] of failures) {
        none.deps.db.track = () => Promise.reject(error)
        const body = await expectSame(none, '/read/beyond:down', status, undefined)
        expect(body).toMatchObject({ success: false, error: { code } })
      }
    } finally {
      none.deps.db.track = track
    }
  })

  it('counts those reads and their durations in the metrics, as the router does', async () => {
    await write(a, 'beyond:counted', 'v')
    const metric = async (pattern: RegExp) =>
      Number(pattern.exec(await (await none.overSocket('/metrics')).text())?.[1])
    const reads = /strata_cache_reads_total\{level="DB",replica="replica-none"\} (\d+)/
    const durations =
      /strata_http_request_duration_seconds_count\{route="\/read\/:key",method="GET",status="200",replica="replica-none"\} (\d+)/
    const [readsBefore, durationsBefore] = [await metric(reads), await metric(durations)]
    expect((await none.overSocket('/read/beyond:counted')).status).toBe(200)
    expect(await metric(reads)).toBe(readsBefore + 1)
    expect(await metric(durations)).toBe(durationsBefore + 1)
  })

  it('ends the connection, not the process, when answering a looked-up read throws', async () => {
    // A lookup whose value cannot be read: rendering the answer throws after the await.
    const broken = {
      ...none.deps,
      cache: {
        ...none.deps.cache,
        peek: () => undefined,
        get: async () => ({
          found: true,
          level: 'L2',
          version: 1,
          get value(): never {
            throw new Error('unreadable value')
          },
        }),
      },
    } as unknown as typeof none.deps
    const url = await listen(withFastRead(broken, () => {}))
    // Without the catch, vitest reports the unhandled rejection and fails the run.
    await expect(requestOverSocket(url, '/read/beyond:broken')).rejects.toThrow()
  })

  it('answers those reads without the router, and leaves it what it would refuse or parse', async () => {
    // The replica's listener, with a count of what it passes on to the router.
    const counted = (replica: TestReplica) => {
      const router = getRequestListener(replica.app.fetch)
      const passed = { count: 0 }
      const url = listen(
        withFastRead(replica.deps, (req, res) => {
          passed.count++
          return router(req, res)
        }),
      )
      return {
        passed,
        get: async (path: string, headers: Record<string, string> = {}) =>
          requestOverSocket(await url, path, { headers }),
      }
    }
    await write(a, 'beyond:direct', 'v')
    await untilInL2(l2, 'beyond:direct')
    await untilInL2(l2, 'beyond:direct-ghost')
    const viaL2 = counted(l2)
    const viaDb = counted(none)
    const levels = [
      (await viaL2.get('/read/beyond:direct')).headers.get('x-cache-level'),
      (await viaL2.get('/read/beyond:direct-ghost')).headers.get('x-cache-level'),
      (await viaDb.get('/read/beyond:direct')).headers.get('x-cache-level'),
      (await viaDb.get('/read/beyond:direct-ghost')).headers.get('x-cache-level'),
    ]
    expect(levels).toEqual(['L2', 'L2', 'DB', 'DB'])
    expect([viaL2.passed.count, viaDb.passed.count]).toEqual([0, 0])

    // A Host the adapter parses, a key the fast path cannot validate cheaply: the router's.
    const longKey = 'k'.repeat(257)
    const astral = '\u{1F600}'.repeat(200)
    const routed: [string, Record<string, string>, number][] = [
      ['/read/beyond:direct', { Host: 'Example.COM' }, 200],
      [`/read/${longKey}`, {}, 400],
      [`/read/${encodeURIComponent(astral)}`, {}, 404],
      ['/read/a%01b', {}, 400],
      ['/read/a%C2%85b', {}, 400],
    ]
    for (const [path, headers, status] of routed) {
      const before = viaDb.passed.count
      expect((await viaDb.get(path, headers)).status, path).toBe(status)
      expect(viaDb.passed.count, path).toBe(before + 1)
      const { served, routed: viaRouter } = await both(none, path, {
        ...headers,
        'X-Request-Id': 'routed',
      })
      expect(served, path).toEqual(viaRouter)
    }
  })
})

describe('POST /delete', () => {
  it('removes the row and invalidates the key everywhere; versions continue after re-creation', async () => {
    await write(a, 'doomed', 'x')
    await read(b, 'doomed')
    const heardByB = heard(b, 'doomed', 2)
    const response = await a.request('/delete', { json: { key: 'doomed' } })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ success: true, key: 'doomed', version: 2 })
    await heardByB
    expect((await read(b, 'doomed')).status).toBe(404)
    expect((await read(a, 'doomed')).status).toBe(404)
    expect(await write(a, 'doomed', 'back')).toBe(3)
    expect((await read(b, 'doomed')).body).toMatchObject({ value: 'back', version: 3 })
  })

  it('answers 404 for a key that does not exist', async () => {
    const response = await a.request('/delete', { json: { key: 'never-was' } })
    expect(response.status).toBe(404)
    expect(await response.json()).toMatchObject({
      success: false,
      key: 'never-was',
      message: 'Key not found',
    })
  })
})

describe('GET /cache-stats', () => {
  it('reports the original counters, rates as percentages and a cluster view of live replicas', async () => {
    await write(a, 'stats', 'v')
    await read(a, 'stats')
    await read(a, 'stats')
    await Promise.all([a.deps.cluster?.flush(), b.deps.cluster?.flush()])
    const response = await a.request('/cache-stats')
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, unknown> & {
      cluster: { replicas: { replica_id: string }[]; totals: Record<string, number> }
    }
    for (const field of [
      'l1_size',
      'l1_max_size',
      'l1_hits',
      'l1_misses',
      'l1_hit_rate',
      'l2_hits',
      'l2_misses',
      'l2_hit_rate',
      'combined_hit_rate',
      'db_reads',
      'invalidations_sent',
      'invalidations_received',
      'promotions',
      'stale_sets_rejected',
      'fill_lease_waits',
      'fill_lease_fills',
      'fill_lease_timeouts',
      'write_fills',
    ]) {
      expect(body[field], field).toEqual(expect.any(Number))
    }
    expect(body).toMatchObject({
      replica_id: 'replica-a',
      cache_mode: 'multi',
      bus_state: 'up',
      l1_max_size: 1000,
    })
    const reads = body.reads as number
    expect(body.combined_hit_rate).toBeCloseTo(
      (((body.l1_hits as number) + (body.l2_hits as number)) / reads) * 100,
      1,
    )
    expect(body.cluster.replicas.map((r) => r.replica_id)).toEqual(['replica-a', 'replica-b'])
    expect(body.cluster.totals.replicas).toBe(2)
    expect(body.cluster.totals.reads).toBeGreaterThanOrEqual(reads)
  })
})

describe('POST /clear-cache', () => {
  it('requires the admin token', async () => {
    const missing = await a.request('/clear-cache', { method: 'POST' })
    expect(missing.status).toBe(401)
    expect(await missing.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } })
    // Every refusal is the same 401, malformed headers included: none tells a client more.
    for (const authorization of [
      'Bearer not-the-token',
      `Basic ${ADMIN_TOKEN}`,
      ADMIN_TOKEN,
      'Bearer',
      'Bearer not a token',
      `Bearer ${ADMIN_TOKEN}!`,
    ]) {
      const refused = await a.request('/clear-cache', {
        method: 'POST',
        headers: { Authorization: authorization },
      })
      expect(refused.status, authorization).toBe(401)
      expect(refused.headers.get('www-authenticate')).toBe('Bearer')
      expect(await refused.json()).toMatchObject({
        error: {
          code: 'UNAUTHORIZED',
          message: 'A valid "Authorization: Bearer <ADMIN_TOKEN>" header is required',
        },
      })
    }
  })

  it('takes the token after "Bearer" in any case and any spacing', async () => {
    for (const authorization of [`bearer ${ADMIN_TOKEN}`, `BEARER    ${ADMIN_TOKEN}`]) {
      const response = await a.request('/clear-cache', {
        method: 'POST',
        headers: { Authorization: authorization },
      })
      expect(response.status, authorization).toBe(200)
    }
  })

  it('empties L1 on every replica and L2', async () => {
    await write(a, 'clear-me', 'v')
    await read(a, 'clear-me')
    await read(b, 'clear-me')
    expect((await read(b, 'clear-me')).level).toBe('L1')
    const cleared = new Promise<void>((resolve) =>
      b.deps.cache.events.once('clear', () => resolve()),
    )
    const response = await a.request('/clear-cache', {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    expect(response.status).toBe(200)
    await cleared
    expect((await read(b, 'clear-me')).level).toBe('DB')
    expect((await read(a, 'clear-me')).level).toBe('L2')
  })

  it('is refused when no token is configured', async () => {
    const noAdmin = await startReplica(servers, { ADMIN_TOKEN: '' })
    try {
      const response = await noAdmin.request('/clear-cache', {
        method: 'POST',
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      })
      expect(response.status).toBe(403)
      expect(await response.json()).toMatchObject({ error: { code: 'ADMIN_DISABLED' } })
    } finally {
      await noAdmin.close()
    }
  })
})

describe('health, metrics and docs', () => {
  it('reports health with the state of every tier', async () => {
    const response = await a.request('/health')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      status: 'healthy',
      database: 'connected',
      l1_cache: 'active',
      l2_cache: 'connected',
      replica_id: 'replica-a',
      cache_mode: 'multi',
      draining: false,
      checks: {
        database: { status: 'up', latency_ms: expect.any(Number) },
        l1: 'serving',
        l2: 'up',
        bus: 'up',
      },
    })
  })

  it('answers liveness, and readiness only while not draining', async () => {
    expect((await a.request('/health/live')).status).toBe(200)
    expect((await a.request('/health/ready')).status).toBe(200)
    a.deps.lifecycle.draining = true
    try {
      expect((await a.request('/health/ready')).status).toBe(503)
      expect(await (await a.request('/health')).json()).toMatchObject({
        status: 'degraded',
        draining: true,
      })
    } finally {
      a.deps.lifecycle.draining = false
    }
  })

  it('exposes Prometheus metrics', async () => {
    await read(a, 'walk')
    const response = await a.request('/metrics')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/plain')
    const text = await response.text()
    expect(text).toMatch(/strata_http_request_duration_seconds_bucket\{.*route="\/read\/:key"/)
    expect(text).toMatch(/strata_cache_reads_total\{level="L1",replica="replica-a"\} \d+/)
    expect(text).toMatch(/strata_invalidations_sent_total\{replica="replica-a"\} [1-9]/)
    expect(text).toMatch(/strata_invalidations_received_total\{replica="replica-a"\} [1-9]/)
    expect(text).toMatch(/strata_write_fills_total\{replica="replica-a"\} [1-9]/)
    expect(text).toMatch(/strata_bus_connected\{replica="replica-a"\} 1/)
    expect(text).toMatch(/strata_db_pool_in_use\{replica="replica-a"\} \d+/)
  })

  it('serves an OpenAPI document generated from the request schemas', async () => {
    const response = await a.request('/openapi.json')
    expect(response.status).toBe(200)
    const spec = (await response.json()) as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>
      components: {
        schemas: Record<string, { properties?: Record<string, { maxLength?: number }> }>
      }
    }
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/write',
        '/read/{key}',
        '/delete',
        '/cache-stats',
        '/clear-cache',
        '/health',
      ]),
    )
    expect(spec.components.schemas.WriteRequest?.properties?.key?.maxLength).toBe(256)
  })

  it('serves the docs page and its assets from installed packages', async () => {
    const page = await a.request('/docs')
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).not.toMatch(/https?:\/\//)
    for (const asset of ['/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js', '/docs/init.js']) {
      expect(html).toContain(asset)
      expect((await a.request(asset)).status).toBe(200)
    }
  })

  it('writes one access-log line per request when ACCESS_LOG is on, none when off', async () => {
    const lines: string[] = []
    const logged = await startReplica(servers, { ACCESS_LOG: 'true', REPLICA_ID: 'logged' }, lines)
    try {
      await write(logged, 'logged-key', 'v')
      await read(logged, 'logged-key')
      await logged.request('/read/logged-key', { headers: { 'X-Request-Id': 'trace-me' } })
      const access = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request')
      expect(access.map((l) => [l.method, l.path, l.status, l.cache_level])).toEqual([
        ['POST', '/write', 200, undefined],
        ['GET', '/read/logged-key', 200, 'L2'], // the writer's fill
        ['GET', '/read/logged-key', 200, 'L1'],
      ])
      expect(access[2]).toMatchObject({ req_id: 'trace-me', ms: expect.any(Number) })
    } finally {
      await logged.close()
    }
    const quiet: string[] = []
    const silent = await startReplica(servers, { REPLICA_ID: 'quiet' }, quiet)
    try {
      await read(silent, 'logged-key')
      await read(silent, 'logged-key')
      expect(quiet.filter((l) => JSON.parse(l).msg === 'request')).toEqual([])
    } finally {
      await silent.close()
    }
  })

  it('echoes a well-formed request id, or makes one', async () => {
    const given = await a.request('/health/live', { headers: { 'X-Request-Id': 'abc-123' } })
    expect(given.headers.get('X-Request-Id')).toBe('abc-123')
    const made = await a.request('/health/live', {
      headers: { 'X-Request-Id': 'no spaces <allowed>' },
    })
    expect(made.headers.get('X-Request-Id')).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/)
    const another = await a.request('/health/live')
    expect(another.headers.get('X-Request-Id')).not.toBe(made.headers.get('X-Request-Id'))
  })
})
