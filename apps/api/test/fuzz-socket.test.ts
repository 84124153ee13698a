import fc from 'fast-check'
import postgres, { type Sql } from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FUZZ_MAX_VALUE_BYTES } from './fuzz/arbitraries.js'
import { checkProperty, propertyTimeout } from './fuzz/check.js'
import { changedKeys, expectErrorAnswer, snapshotData } from './fuzz/oracle.js'
import { exchange, type RawExchange } from './fuzz/raw-client.js'
import { RAW_CASES, type RawRequest, rawRequestArb } from './fuzz/raw-requests.js'
import {
  ADMIN_TOKEN,
  type ApiProcess,
  type Servers,
  startApiProcess,
  startServers,
} from './harness.js'

// Raw bytes against a real listening replica (src/server.ts in its own process, as deployed),
// for what a `Request` cannot carry: bad header bytes, conflicting framing, bare CR/LF, huge
// lines. Seeded like every fuzz suite: see test/fuzz/env.ts.

let servers: Servers
let api: ApiProcess
let sql: Sql

beforeAll(async () => {
  servers = await startServers()
  sql = postgres(servers.postgres.url, { max: 2, onnotice: () => {} })
  api = await startApiProcess(servers, {
    REPLICA_ID: 'raw-fuzz',
    ADMIN_TOKEN,
    MAX_VALUE_BYTES: String(FUZZ_MAX_VALUE_BYTES),
  })
})
afterAll(async () => {
  await api?.stop()
  await sql?.end()
  await servers?.stop()
})

/** What one response's body claims it did to which key, when it is an accepted write or delete. */
function acceptedKey(exchanged: RawExchange): Set<string> {
  const keys = new Set<string>()
  for (const response of exchanged.responses) {
    if (response.status !== 200) continue
    const body = JSON.parse(response.body) as { key?: unknown; version?: unknown }
    if (typeof body.key === 'string' && typeof body.version === 'number') keys.add(body.key)
  }
  return keys
}

/** Sends one raw request and holds the answer to the contract. */
async function checkRaw(request: RawRequest): Promise<void> {
  const text = request.bytes.toString('latin1')
  const context = `${request.label}: ${JSON.stringify(text.length > 400 ? `${text.slice(0, 400)}…` : text)}`
  const before = await snapshotData(sql)
  const exchanged = await exchange(api.port, request.bytes, {
    halfClose: request.incomplete,
    timeoutMs: 15_000,
  })
  expect(exchanged.timedOut, `neither an answer nor a close within 15 s: ${context}`).toBe(false)
  expect(exchanged.leftover, `bytes that are not an HTTP response: ${context}`).toBe('')
  if (!request.incomplete) {
    expect(
      exchanged.responses.length,
      `no answer to a complete request: ${context}`,
    ).toBeGreaterThan(0)
  }
  for (const response of exchanged.responses) {
    expect(response.status, `no 5xx: ${context}`).toBeLessThan(500)
    if (response.status >= 400) {
      expectErrorAnswer(
        {
          status: response.status,
          contentType: response.headers.get('content-type') ?? null,
          requestId: null,
          body: response.body,
        },
        'GET',
        context,
      )
    }
  }
  // Only an accepted write or delete may change data, and only its own key.
  const changed = changedKeys(before, await snapshotData(sql))
  const accepted = acceptedKey(exchanged)
  expect(
    changed.filter((key) => !accepted.has(key)),
    `data changed: ${context}`,
  ).toEqual([])
  expect(api.child.exitCode, `the server exited: ${context}`).toBeNull()
}

/** Log lines at error level or above, and anything node or the adapter printed as an error. */
const errorOutput = () =>
  api
    .output()
    .split('\n')
    .filter((line) => /"level":(5\d|60)/.test(line) || /^\s*at |Error:/.test(line))

const RAW_RUNS = 300

describe('a real server under hostile bytes', () => {
  it.each(RAW_CASES)(
    'answers %s with no 5xx and a JSON error',
    async (label, request, incomplete) => {
      await checkRaw({ bytes: Buffer.from(request, 'latin1'), incomplete, label })
    },
  )

  it(
    'never answers 5xx, answers every 4xx as JSON, and changes data only through accepted writes',
    async () => {
      await checkProperty(fc.asyncProperty(rawRequestArb, checkRaw), RAW_RUNS)
    },
    propertyTimeout(RAW_RUNS),
  )

  it('still serves, and logged no error, after all of it', async () => {
    const response = await fetch(`${api.base}/health/live`)
    expect(response.status).toBe(200)
    expect(errorOutput()).toEqual([])
  })
})
