import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fastReadKey } from '../src/http/fast-read.js'
import {
  ADMIN_TOKEN,
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

describe('the L1 fast path', () => {
  /** The same replica served by the router alone (the adapter without the fast path), on a real socket. */
  let routerOnly: Server
  let routerUrl: string
  beforeAll(async () => {
    routerOnly = createServer(getRequestListener(a.app.fetch))
    await new Promise<void>((resolve) => routerOnly.listen(0, '127.0.0.1', resolve))
    routerUrl = `http://127.0.0.1:${(routerOnly.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    routerOnly?.closeAllConnections()
    await new Promise((resolve) => routerOnly?.close(resolve))
  })

  /** Status, body and every header but Date, from the replica's own server and from the router alone. */
  const both = async (path: string, headers: Record<string, string> = {}) => ({
    served: await answer(await a.overSocket(path, { headers })),
    routed: await answer(await requestOverSocket(routerUrl, path, { headers })),
  })
  const answer = async (response: Response) => ({
    status: response.status,
    body: await response.text(),
    headers: [...response.headers].filter(([name]) => name !== 'date').sort(),
  })
  const l1Hits = () => a.deps.cache.stats().l1Hits

  it('answers an L1 hit exactly as the router does: status, body and headers', async () => {
    await write(a, 'fast', 'lane')
    await read(a, 'fast')
    const before = l1Hits()
    const { served, routed } = await both('/read/fast', { 'X-Request-Id': 'same-id' })
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
    const { served, routed } = await both('/read/fast-ghost', { 'X-Request-Id': 'ghost-id' })
    expect(served.status).toBe(404)
    expect(served.headers).toContainEqual(['x-cache-level', 'L1'])
    expect(served).toEqual(routed)
  })

  it('decodes percent-encoded keys the way the router does, and ignores the query', async () => {
    for (const key of ['a b/ü', '100%', "it's:(fine)"]) {
      await write(a, key, 'encoded')
      await read(a, key)
      const path = `/read/${encodeURIComponent(key)}?ignored=1`
      const { served, routed } = await both(path, { 'X-Request-Id': 'id' })
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
      const { served, routed } = await both(path, { 'X-Request-Id': 'dot' })
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
