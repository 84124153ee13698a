import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  describeRequest,
  FUZZ_MAX_VALUE_BYTES,
  type FuzzRequest,
  keyArb,
  requestArb,
  toRequest,
  valueArb,
} from './fuzz/arbitraries.js'
import { checkProperty, propertyTimeout } from './fuzz/check.js'
import {
  type Answer,
  changedKeys,
  expectErrorAnswer,
  nextVersion,
  SAFE_REQUEST_ID,
  snapshotData,
} from './fuzz/oracle.js'
import {
  ADMIN_TOKEN,
  type Servers,
  startReplica,
  startServers,
  type TestReplica,
} from './harness.js'

// Property-based fuzzing of the whole HTTP surface, in-process (the server's own entry point:
// the L1 fast path, then the app) over real PostgreSQL and Redis. Seeded: see test/fuzz/env.ts.

let servers: Servers
let api: TestReplica

/** Keys read around every request: a rejected request must not change what they serve. */
const PROBES = ['probe:a', 'probe:b']

beforeAll(async () => {
  servers = await startServers()
  api = await startReplica(servers, {
    MAX_VALUE_BYTES: String(FUZZ_MAX_VALUE_BYTES),
    // Long enough that no entry expires during the run: an L1 probe that is gone was evicted.
    L1_CACHE_TTL: '3600',
    L2_CACHE_TTL: '3600',
  })
  for (const key of PROBES) {
    const response = await api.request('/write', { json: { key, value: `value of ${key}` } })
    expect(response.status).toBe(200)
  }
})
afterAll(async () => {
  await api?.close()
  await servers?.stop()
})

/** Sends a request through the replica's entry point and collects the answer. */
async function send(request: Request): Promise<Answer> {
  const response = await api.send(request)
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    requestId: response.headers.get('x-request-id'),
    body: await response.text(),
  }
}

/** What the probes serve right now: status, value, version and tier. */
async function readProbes(): Promise<
  { status: number; value: unknown; version: unknown; level: string | null }[]
> {
  return Promise.all(
    PROBES.map(async (key) => {
      const response = await api.request(`/read/${encodeURIComponent(key)}`)
      const body = (await response.json()) as { value?: unknown; version?: unknown }
      return {
        status: response.status,
        value: body.value,
        version: body.version,
        level: response.headers.get('x-cache-level'),
      }
    }),
  )
}

/** Reads `key` through the API the way a client would. */
async function readBack(key: string) {
  const response = await api.request(`/read/${encodeURIComponent(key)}`)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

// Decoded as the API decodes: a leading byte order mark is dropped (RFC 8259 lets parsers ignore it).
const utf8 = new TextDecoder()
const parseJson = (bytes: Uint8Array | undefined): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(utf8.decode(bytes ?? new Uint8Array()))
  } catch {
    return undefined
  }
}

/**
 * Checks one exchange against the contract; throws (with the request) when it is broken.
 * Returns what happened (`write`, `delete`, `clear`, `other 2xx`, or the error code).
 */
async function checkExchange(fuzz: FuzzRequest, request: Request): Promise<string> {
  const context = describeRequest(fuzz)
  let probesBefore = await readProbes()
  // The first read after a clear fills L1; from the second on, the probes are L1 hits.
  if (probesBefore.some((p) => p.level !== 'L1')) probesBefore = await readProbes()
  const before = await snapshotData(api.deps.db.sql)
  const statsBefore = api.deps.cache.stats()

  const answer = await send(request)
  const after = await snapshotData(api.deps.db.sql)
  const statsAfter = api.deps.cache.stats()
  const changed = changedKeys(before, after)

  expect(answer.status, `no 5xx: ${context}`).toBeLessThan(500)
  expect(answer.requestId, context).toMatch(SAFE_REQUEST_ID)
  const clientId = request.headers.get('x-request-id')
  if (clientId !== null && SAFE_REQUEST_ID.test(clientId)) expect(answer.requestId).toBe(clientId)

  if (answer.status >= 400) {
    const code = expectErrorAnswer(answer, request.method, context)
    // Rejected, or a read of a key that does not exist: nothing may have changed anywhere.
    expect(changed, `data changed through a ${answer.status} ${code}: ${context}`).toEqual([])
    expect(statsAfter.invalidationsSent, context).toBe(statsBefore.invalidationsSent)
    expect(statsAfter.generation, context).toBe(statsBefore.generation)
    // The same rows, still cached. Not necessarily from L1: a busy machine can delay the bus
    // heartbeat past the lease, and L1 then rightly pauses (an eviction or a clear would show up
    // in the invalidation and generation counters above).
    const cached = (probes: Awaited<ReturnType<typeof readProbes>>) =>
      probes.map(({ level, ...probe }) => ({ ...probe, cached: level === 'L1' || level === 'L2' }))
    expect(
      cached(await readProbes()),
      `probes changed through a ${answer.status}: ${context}`,
    ).toEqual(cached(probesBefore))
    if (code === 'KEY_NOT_FOUND' && request.method !== 'HEAD') {
      const key = (JSON.parse(answer.body) as { key: string }).key
      expect(before.records.has(key), `404 for a key that exists: ${context}`).toBe(false)
    }
    return code || `${request.method} ${answer.status}`
  }

  const body = request.method === 'HEAD' ? {} : (JSON.parse(answer.body || 'null') ?? {})
  const message = request.method === 'POST' && typeof body.message === 'string' ? body.message : ''
  if (message.startsWith('Data written')) {
    // An accepted write: version + 1 on that key only, the invalidation sent, and read back.
    const sent = parseJson(fuzz.body) as { key: string; value: string }
    expect(body.key, context).toBe(sent.key)
    expect(body.version, context).toBe(nextVersion(before, sent.key))
    expect(changed, context).toEqual([sent.key])
    expect(after.records.get(sent.key), context).toEqual({
      value: sent.value,
      version: body.version,
    })
    expect(statsAfter.invalidationsSent, context).toBe(statsBefore.invalidationsSent + 1)
    const back = await readBack(sent.key)
    expect(back.status, context).toBe(200)
    expect(back.body, context).toMatchObject({
      key: sent.key,
      value: sent.value,
      version: body.version,
    })
    return 'write'
  }
  if (message.startsWith('Key deleted')) {
    // An accepted delete: the row existed, is gone, its deletion has the next version.
    const sent = parseJson(fuzz.body) as { key: string }
    expect(body.key, context).toBe(sent.key)
    expect(before.records.has(sent.key), context).toBe(true)
    expect(body.version, context).toBe(nextVersion(before, sent.key))
    expect(changed, context).toEqual([sent.key])
    expect(after.records.has(sent.key), context).toBe(false)
    expect(after.deleted.get(sent.key), context).toBe(body.version)
    expect(statsAfter.invalidationsSent, context).toBe(statsBefore.invalidationsSent + 1)
    expect((await readBack(sent.key)).status, context).toBe(404)
    return 'delete'
  }
  if (message.startsWith('Cleared')) {
    expect(changed, context).toEqual([])
    expect(statsAfter.generation, context).toBe(statsBefore.generation + 1)
    return 'clear'
  }
  // Reads, stats, health, docs: they change no data, and a read serves what the database holds.
  expect(changed, `data changed through a ${answer.status}: ${context}`).toEqual([])
  expect(statsAfter.invalidationsSent, context).toBe(statsBefore.invalidationsSent)
  expect(statsAfter.generation, context).toBe(statsBefore.generation)
  if (typeof body.key === 'string' && 'value' in body) {
    const row = before.records.get(body.key)
    expect(row, `read served a key the database does not hold: ${context}`).toBeDefined()
    expect({ value: body.value, version: body.version }, context).toEqual(row)
    return 'read'
  }
  return `other ${answer.status}`
}

/** What the request property must reach at its default size, or its inputs have gone stale. */
const EXPECTED_OUTCOMES = [
  'write',
  'delete',
  'clear',
  'read',
  'INVALID_JSON',
  'INVALID_UTF8',
  'VALIDATION_FAILED',
  'UNAUTHORIZED',
  'KEY_NOT_FOUND',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
]

const REQUEST_RUNS = 600
const KEY_RUNS = 300

describe('HTTP API under hostile input (property-based)', () => {
  it(
    'never answers 5xx, answers every 4xx as JSON with its code, and changes data only through accepted writes',
    async () => {
      const seen = new Map<string, number>()
      const runs = await checkProperty(
        fc.asyncProperty(requestArb(ADMIN_TOKEN), async (fuzz) => {
          const request = toRequest(fuzz)
          fc.pre(request !== undefined) // shapes fetch itself refuses are covered by the socket suite
          const outcome = await checkExchange(fuzz, request as Request)
          seen.set(outcome, (seen.get(outcome) ?? 0) + 1)
        }),
        REQUEST_RUNS,
      )
      // A property that stopped reaching writes or 413s would pass without testing them.
      if (runs >= REQUEST_RUNS)
        expect([...seen.keys()]).toEqual(expect.arrayContaining(EXPECTED_OUTCOMES))
    },
    propertyTimeout(REQUEST_RUNS),
  )

  it(
    'accepts exactly the documented keys on write and read, and reads back what it accepted',
    async () => {
      await checkProperty(
        fc.asyncProperty(keyArb, valueArb, async (key, value) => {
          const valid = isDocumentedKey(key) && isDocumentedValue(value)
          const fits = Buffer.byteLength(value) <= FUZZ_MAX_VALUE_BYTES
          const response = await api.request('/write', { json: { key, value } })
          const answer = { status: response.status, body: await response.text() }
          const context = `key ${JSON.stringify(key.slice(0, 300))} value ${JSON.stringify(value.slice(0, 100))}: ${answer.body.slice(0, 300)}`
          if (!valid) {
            expect(answer.status, context).toBe(400)
            expect(JSON.parse(answer.body).error.code, context).toBe('VALIDATION_FAILED')
            // A bad key is refused on reads too; "", "." and ".." never reach the route (URL resolution).
            if (!isDocumentedKey(key) && isWellFormed(key)) {
              const read = await readBack(key)
              const code = (read.body.error as { code?: string } | undefined)?.code
              const unroutable = key === '' || key === '.' || key === '..'
              expect(code, context).toBe(unroutable ? 'NOT_FOUND' : 'VALIDATION_FAILED')
            }
          } else if (!fits) {
            expect(answer.status, context).toBe(413)
          } else {
            expect(answer.status, context).toBe(200)
            const back = await readBack(key)
            expect(back.status, context).toBe(200)
            expect(back.body, context).toMatchObject({
              key,
              value,
              version: JSON.parse(answer.body).version,
            })
          }
        }),
        KEY_RUNS,
      )
    },
    propertyTimeout(KEY_RUNS),
  )
})

const isWellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

/** Values as docs/api.md states them (the size limit aside): no NUL, well-formed Unicode. */
const isDocumentedValue = (value: string) => !value.includes('\u0000') && isWellFormed(value)

/**
 * The key rule as docs/api.md states it, written out independently of the API's schema:
 * 1–256 code points, no control characters, well-formed Unicode, and addressable as one
 * URL path segment (not `.` or `..`).
 */
function isDocumentedKey(key: string): boolean {
  return (
    key.length >= 1 &&
    [...key].length <= 256 &&
    !/\p{Cc}/u.test(key) &&
    isWellFormed(key) &&
    key !== '.' &&
    key !== '..'
  )
}
