import { expect } from 'vitest'
import { read, type TestReplica, write } from './harness.js'

/**
 * Three writers and four readers on three hot keys, spread over `replicas`: versions only go
 * up for every reader on every replica, every writer reads its own writes, every acknowledged
 * write got its own version, and every replica ends on the last one. Run on one Redis server
 * (concurrency.test.ts) and on a Redis Cluster (redis-cluster.test.ts).
 */
export async function checkMixedConcurrency(replicas: readonly TestReplica[]): Promise<void> {
  const keys = ['hot-1', 'hot-2', 'hot-3']
  for (const key of keys) await write(replicas[0] as TestReplica, key, '0')
  const acked = new Map<string, number[]>(keys.map((k) => [k, []]))
  const violations: string[] = []

  const writer = async (w: number) => {
    for (let i = 0; i < 40; i++) {
      const key = keys[(w + i) % keys.length] as string
      const replica = replicas[(w + i) % replicas.length] as TestReplica
      const version = await write(replica, key, `w${w}-${i}`)
      acked.get(key)?.push(version)
      // Read-your-writes on the writing replica.
      const own = await read(replica, key)
      if ((own.body.version as number) < version)
        violations.push(`ryw ${key}: ${own.body.version} < ${version}`)
    }
  }
  const reader = async (r: number) => {
    const lastSeen = new Map<string, number>()
    for (let i = 0; i < 150; i++) {
      const key = keys[i % keys.length] as string
      const replica = replicas[(r + i) % replicas.length] as TestReplica
      const { status, body } = await read(replica, key)
      if (status !== 200) {
        violations.push(`read ${key}: status ${status}`)
        continue
      }
      const version = body.version as number
      // One reader reading one replica after another must never go back in time by more than
      // what a concurrent write explains; per replica, versions never go down.
      const seenKey = `${key}@${r}:${(r + i) % replicas.length}`
      if (version < (lastSeen.get(seenKey) ?? 0))
        violations.push(`${seenKey}: ${version} after ${lastSeen.get(seenKey)}`)
      lastSeen.set(seenKey, version)
    }
  }
  await Promise.all([...[0, 1, 2].map(writer), ...[0, 1, 2, 3].map(reader)])
  expect(violations).toEqual([])
  for (const key of keys) {
    const versions = (acked.get(key) ?? []).sort((x, y) => x - y)
    // Every acknowledged write got its own version: none lost, none repeated.
    expect(new Set(versions).size).toBe(versions.length)
    const [row] = await (replicas[0] as TestReplica).deps.db.sql<{ version: string }[]>`
      SELECT version FROM records WHERE key = ${key}`
    expect(Number(row?.version)).toBe(1 + versions.length)
    for (const replica of replicas) {
      expect((await read(replica, key)).body.version).toBe(1 + versions.length)
    }
  }
}
