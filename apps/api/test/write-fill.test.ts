import { describe, expect, it } from 'vitest'
import { read, startCluster, type TestReplica, write } from './harness.js'

// Three replicas that cache (the writer among them), and one that does not, whose reads always
// come from PostgreSQL: the reference for what a read of the row returns.
// A generous fill lease wait: a reader on another replica that comes before the writer's fill
// waits for it (the writer's own reads follow its set on the same connection).
const WAIT = { L2_FILL_LEASE_WAIT: '5' }
const { replicas } = await startCluster(WAIT, WAIT, WAIT, { CACHE_MODE: 'none' })
const caching = replicas.slice(0, 3) as TestReplica[]
const direct = replicas[3] as TestReplica

const dbReads = () => caching.reduce((sum, r) => sum + r.deps.cache.stats().dbReads, 0)

describe('the writer fills L2 after its commit', () => {
  it('a write, then reads on every replica: served from L2 or L1, never from PostgreSQL', async () => {
    const key = 'write-fill'
    const writer = caching[0] as TestReplica
    for (let round = 1; round <= 3; round++) {
      const version = await write(writer, key, `value-${round}`)
      const before = dbReads()
      const reads = await Promise.all(caching.map((replica) => read(replica, key)))
      for (const { status, level, body } of reads) {
        expect(status).toBe(200)
        expect(['L2', 'L1']).toContain(level)
        expect(body).toMatchObject({ value: `value-${round}`, version })
      }
      expect(dbReads()).toBe(before)
      // What the fill holds is what a read from PostgreSQL returns (timestamps included).
      const fromDb = await read(direct, key)
      const { cache_level: _l, from_cache: _f, ...expected } = fromDb.body
      const {
        cache_level: _l2,
        from_cache: _f2,
        ...served
      } = (reads[1] as { body: Record<string, unknown> }).body
      expect(served).toEqual(expected)
    }
  })

  it('a delete, then reads on every replica: a 404 served from L2 or L1, never from PostgreSQL', async () => {
    const key = 'write-fill-delete'
    const writer = caching[1] as TestReplica
    await write(writer, key, 'soon gone')
    const response = await writer.request('/delete', { json: { key } })
    expect(response.status).toBe(200)
    const before = dbReads()
    const reads = await Promise.all(caching.map((replica) => read(replica, key)))
    for (const { status, level } of reads) {
      expect(status).toBe(404)
      expect(['L2', 'L1']).toContain(level)
    }
    expect(dbReads()).toBe(before)
  })
})
