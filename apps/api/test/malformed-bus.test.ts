import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Servers, startReplica, startServers, type TestReplica } from './harness.js'

let servers: Servers
let api: TestReplica
let publisher: Redis
const logLines: string[] = []

beforeAll(async () => {
  servers = await startServers()
  api = await startReplica(servers, { REPLICA_ID: 'target' }, logLines)
  publisher = new Redis(servers.redis.url)
})
afterAll(async () => {
  publisher?.disconnect()
  await api?.close()
  await servers?.stop()
})

describe('malformed bus messages at the replica', () => {
  it('counts every one in /metrics and logs a flood as one line', async () => {
    for (let i = 0; i < 200; i++) await publisher.publish('strata:bus', `junk ${i}`)
    // Messages of one connection arrive in order: once this one is heard, all the junk was.
    const heard = new Promise<void>((resolve) =>
      api.deps.cache.events.on('invalidate', (e) => e.key === 'marker' && resolve()),
    )
    await publisher.publish(
      'strata:bus',
      JSON.stringify({ v: 1, type: 'invalidate', key: 'marker', version: 1, origin: 'test' }),
    )
    await heard
    const metrics = await (await api.request('/metrics')).text()
    expect(metrics).toContain('strata_bus_malformed_messages_total{replica="target"} 200')
    const warnings = logLines.filter((line) => line.includes('malformed bus message'))
    expect(warnings).toHaveLength(1)
    expect(JSON.parse(warnings[0] as string)).toMatchObject({ dropped: 1, error: 'not JSON' })
  })
})
