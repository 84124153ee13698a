import { beforeAll, describe, expect, it, vi } from 'vitest'
import { startCluster } from './harness.js'

// A write acknowledged more than maxWriteTime after its invalidation could have lost its fence in
// a Redis restart while the replicas' quarantine (which lasts maxWriteTime) has already ended:
// it announces itself again after COMMIT, before the 200. Forced here by a maxWriteTime of 0.

const {
  replicas: [a, b],
} = await startCluster({ REPLICA_ID: 'replica-a' }, { REPLICA_ID: 'replica-b' })

describe('a write slower than maxWriteTime', () => {
  let configured = 0
  beforeAll(() => {
    configured = a.deps.maxWriteTime
  })

  it('is announced again after its commit, before it is acknowledged', async () => {
    a.deps.maxWriteTime = 0
    try {
      const heard: number[] = []
      const listener = (e: { key: string; version: number }) => {
        if (e.key === 'late') heard.push(e.version)
      }
      b.deps.cache.events.on('invalidate', listener)
      const sent = a.deps.cache.stats().invalidationsSent
      const written = await a.request('/write', { json: { key: 'late', value: 'v' } })
      expect(written.status).toBe(200)
      const { version } = (await written.json()) as { version: number }
      expect(a.deps.cache.stats().invalidationsSent).toBe(sent + 2)
      await vi.waitFor(() => expect(heard).toEqual([version, version]))
      b.deps.cache.events.off('invalidate', listener)
    } finally {
      a.deps.maxWriteTime = configured
    }
  })

  it('is answered as of unknown outcome when that second announcement fails, though committed', async () => {
    a.deps.maxWriteTime = 0
    const invalidate = a.deps.cache.invalidate.bind(a.deps.cache)
    let calls = 0
    const spy = vi.spyOn(a.deps.cache, 'invalidate').mockImplementation((key, version) => {
      calls++
      return calls === 1 ? invalidate(key, version) : Promise.reject(new Error('Redis went away'))
    })
    try {
      const written = await a.request('/write', { json: { key: 'late-2', value: 'v' } })
      expect(written.status).toBe(504)
      expect(await written.json()).toMatchObject({ error: { code: 'OUTCOME_UNKNOWN' } })
      const [row] = await a.deps.db.sql<{ version: string }[]>`
        SELECT version FROM records WHERE key = 'late-2'`
      expect(row).toEqual({ version: '1' })
    } finally {
      spy.mockRestore()
      a.deps.maxWriteTime = configured
    }
  })
})
