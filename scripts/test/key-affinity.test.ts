import { mustWrite, readKey, startTestStack, type TestStack } from '@strata/stack/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

describe('local stack with --lb key-affinity', () => {
  let stack: TestStack

  beforeAll(async () => {
    stack = await startTestStack({ lb: 'key-affinity' })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('reads each key from one replica, whose L1 then serves it, and spreads keys over replicas', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `affinity-${i}`)
    for (const key of keys) await mustWrite(stack.url, key, 'value')

    const replicaOf = new Map<string, Set<string>>()
    for (const key of keys) {
      const replicas = new Set<string>()
      for (let i = 0; i < 8; i++) {
        const read = await readKey(stack.url, key)
        expect(read.status).toBe(200)
        replicas.add(read.replica ?? '(none)')
        // Every read after the first hits the L1 of the one replica that loaded the key.
        if (i > 0) expect(read.cacheLevel, `read ${i + 1} of ${key}`).toBe('L1')
      }
      replicaOf.set(key, replicas)
    }

    for (const [key, replicas] of replicaOf) expect([...replicas], key).toHaveLength(1)
    const used = new Set([...replicaOf.values()].flatMap((replicas) => [...replicas]))
    // Consistent hashing is uneven over 30 keys, but one replica taking all of them means no affinity by key.
    expect(used.size).toBeGreaterThanOrEqual(2)
  })

  it('still balances writes round robin', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 12; i++) {
      const response = await fetch(`${stack.url}/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'affinity-writes', value: String(i) }),
      })
      expect(response.status).toBe(200)
      seen.add(response.headers.get('x-replica-id') ?? '(none)')
    }
    expect(seen.size).toBe(3)
  })
})
