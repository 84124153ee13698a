import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { migrate } from '../src/db/migrate.js'
import { checkMixedConcurrency } from './coherency-checks.js'
import { startCluster, type TestReplica } from './harness.js'

const { servers, replicas } = await startCluster({}, {}, {})

describe('mixed concurrency', () => {
  it('gives versions that only go up, to every reader, under concurrent writes and reads', async () => {
    await checkMixedConcurrency(replicas)
  })
})

describe('writes and deletes of one key', () => {
  it('give every acknowledged change its own version, one more than the last', async () => {
    const key = 'churn'
    const acked: number[] = []
    const worker = async (w: number) => {
      for (let i = 0; i < 30; i++) {
        const replica = replicas[(w + i) % replicas.length] as TestReplica
        const response =
          (w + i) % 3 === 0
            ? await replica.request('/delete', { json: { key } })
            : await replica.request('/write', { json: { key, value: `w${w}-${i}` } })
        const body = (await response.json()) as { version?: number }
        // A delete of a key that is already gone changes nothing and has no version.
        if (response.status === 404) continue
        expect(response.status).toBe(200)
        acked.push(body.version as number)
      }
    }
    await Promise.all([0, 1, 2, 3].map(worker))
    expect(new Set(acked).size).toBe(acked.length)
    // Versions start at 1 and grow by one per acknowledged change: none reused, none skipped.
    expect(Math.max(...acked)).toBe(acked.length)
    const sql = (replicas[0] as TestReplica).deps.db.sql
    const [state] = await sql<{ version: string }[]>`
      SELECT COALESCE((SELECT version FROM records WHERE key = ${key}),
                      (SELECT version FROM deleted_records WHERE key = ${key})) AS version`
    expect(Number(state?.version)).toBe(acked.length)
  })
})

describe('migration', () => {
  it('is idempotent and safe when replicas run it at the same time', async () => {
    const admin = postgres(servers.postgres.url, { max: 1, onnotice: () => {} })
    await admin.unsafe('CREATE DATABASE migrate_race')
    await admin.end()
    const url = servers.postgres.url.replace(/\/postgres$/, '/migrate_race')
    const clients = Array.from({ length: 6 }, () => postgres(url, { max: 1, onnotice: () => {} }))
    try {
      await Promise.all(clients.map((sql) => migrate(sql)))
      await migrate(clients[0] as postgres.Sql)
      const tables = await (clients[0] as postgres.Sql)<{ table_name: string }[]>`
        SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`
      expect(tables.map((t) => t.table_name)).toEqual(['deleted_records', 'records'])
    } finally {
      await Promise.all(clients.map((sql) => sql.end()))
    }
  })
})
