import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Servers, startReplica, startServers, type TestReplica } from './harness.js'

// /health and /cache-stats answer anyone. Each would cost a PostgreSQL query, or 2 + N Redis
// commands, per request: a flood of them must cost the backends next to nothing.

let servers: Servers
let a: TestReplica

beforeAll(async () => {
  servers = await startServers()
  a = await startReplica(servers, { REPLICA_ID: 'replica-a' })
})
afterAll(async () => {
  await a?.close()
  await servers?.stop()
})

describe('unauthenticated observability endpoints', () => {
  it('check the database once for a burst of /health, however many arrive', async () => {
    const ping = vi.spyOn(a.deps.records, 'ping')
    const answers = await Promise.all(Array.from({ length: 200 }, () => a.request('/health')))
    for (const answer of answers) expect(answer.status).toBe(200)
    // One query for the burst (two if it straddled the reuse window's end).
    expect(ping.mock.calls.length).toBeLessThanOrEqual(2)
    ping.mockRestore()
  })

  it('read the cluster view from Redis once for a burst of /cache-stats', async () => {
    const cluster = a.deps.cluster
    if (!cluster) throw new Error('this replica runs with Redis')
    const rows = vi.spyOn(cluster, 'rows')
    const answers = await Promise.all(Array.from({ length: 200 }, () => a.request('/cache-stats')))
    for (const answer of answers) expect(answer.status).toBe(200)
    expect(rows.mock.calls.length).toBeLessThanOrEqual(2)
    rows.mockRestore()
  })
})
