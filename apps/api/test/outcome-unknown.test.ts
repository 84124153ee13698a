import { COMMIT_STATEMENT, startTcpProxy, type TcpProxy } from '@strata/testkit'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, read, startCluster, startReplica, type TestReplica, write } from './harness.js'

// A replica whose PostgreSQL link runs through a TCP proxy that can cut a connection right after
// a given statement went out, before PostgreSQL's answer comes back.
const { servers } = await startCluster()
let proxy: TcpProxy
let api: TestReplica
/** A direct connection, past the proxy: what PostgreSQL really holds. */
let direct: postgres.Sql

beforeAll(async () => {
  proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: servers.postgres.port } })
  api = await startReplica(servers, {
    DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/postgres`,
  })
  direct = postgres(servers.postgres.url, { max: 2, onnotice: () => {} })
})
afterAll(async () => {
  await api?.close()
  await direct?.end()
  await proxy?.close()
})

const row = async (key: string) => {
  const [found] = await direct<{ value: string; version: string }[]>`
    SELECT value, version FROM records WHERE key = ${key}`
  return found
}

/** After a cut the replica refuses work until a probe query gets through; waits for that. */
const databaseBack = () => eventually(async () => expect(api.deps.db.available()).toBe(true))

/** Writes until one is acknowledged: after a cut the replica refuses work until a probe passes. */
async function writeOnceBack(key: string, value: string): Promise<number> {
  let version: number | undefined
  await eventually(async () => {
    version = await write(api, key, value)
  })
  return version as number
}

describe('a write whose COMMIT reply is lost', () => {
  it('answers 504 OUTCOME_UNKNOWN, and the write did in fact commit', async () => {
    await write(api, 'lost-reply', 'v1')
    await databaseBack()
    const sentBefore = api.deps.cache.stats().invalidationsSent
    const cut = proxy.cutAfterClientMatch(COMMIT_STATEMENT)
    const response = await api.request('/write', { json: { key: 'lost-reply', value: 'v2' } })
    await cut
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({
      success: false,
      error: { code: 'OUTCOME_UNKNOWN' },
    })
    // The old answer, 503 "nothing changed", would have been a lie: the row moved to v2.
    await eventually(async () =>
      expect(await row('lost-reply')).toEqual({ value: 'v2', version: '2' }),
    )
    // Once PostgreSQL answers again, the key is announced once more at v2: a COMMIT applied late
    // cannot leave a replica serving what it cached in between.
    await eventually(async () => expect(api.deps.unknownOutcomes.size).toBe(0))
    expect(api.deps.cache.stats().invalidationsSent).toBe(sentBefore + 2)
    // The replica did not serve the old row afterwards either (the invalidation went out first).
    await writeOnceBack('other', 'x')
    expect((await read(api, 'lost-reply')).body).toMatchObject({ value: 'v2', version: 2 })
  })

  it('answers 504 OUTCOME_UNKNOWN for a delete too', async () => {
    await writeOnceBack('lost-delete', 'v1')
    await databaseBack()
    const cut = proxy.cutAfterClientMatch(COMMIT_STATEMENT)
    const response = await api.request('/delete', { json: { key: 'lost-delete' } })
    await cut
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({ error: { code: 'OUTCOME_UNKNOWN' } })
    await eventually(async () => expect(await row('lost-delete')).toBeUndefined())
  })

  it('answers 503 and commits nothing when the connection is cut before COMMIT', async () => {
    // The key travels in the statements' parameters: the cut comes right after the upsert went
    // out, which PostgreSQL executes, then sees the connection closed and rolls back.
    await databaseBack()
    const cut = proxy.cutAfterClientMatch(/cut-before-commit/)
    const response = await api.request('/write', {
      json: { key: 'cut-before-commit', value: 'never' },
    })
    await cut
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({ error: { code: 'DATABASE_UNAVAILABLE' } })
    // The next write of the key waits for the advisory lock of the cut transaction, so it runs
    // after PostgreSQL has rolled that one back: version 1, nothing of "never".
    expect(await writeOnceBack('cut-before-commit', 'after')).toBe(1)
    expect(await row('cut-before-commit')).toEqual({ value: 'after', version: '1' })
  })
})

describe('a write that times out before its COMMIT', () => {
  it('never commits, even when PostgreSQL finishes its statements and answers late', async () => {
    await databaseBack()
    const key = 'late-answer'
    // The test holds the key's lock, so the write's statements wait inside PostgreSQL.
    const holder = await direct.reserve()
    try {
      await holder`SELECT pg_advisory_lock(hashtextextended(${key}, 0))`
      const pending = api.request('/write', { json: { key, value: 'late' } })
      const backendState = async (state: string, waitType?: string) => {
        const rows = await direct<{ state: string; wait_event_type: string | null }[]>`
          SELECT state, wait_event_type FROM pg_stat_activity
          WHERE (query LIKE '%pg_advisory_xact_lock%' OR query LIKE '%INSERT INTO records%')
            AND pid <> pg_backend_pid()`
        expect(rows).toContainEqual(
          expect.objectContaining({ state, ...(waitType ? { wait_event_type: waitType } : {}) }),
        )
      }
      await eventually(() => backendState('active', 'Lock'))
      // Nothing from PostgreSQL reaches the replica any more; then the statements complete.
      proxy.stall()
      await holder`SELECT pg_advisory_unlock(hashtextextended(${key}, 0))`
      await eventually(() => backendState('idle in transaction'))
      // The answer is held: the replica's deadline fires before the COMMIT was ever sent.
      const response = await pending
      expect(response.status).toBe(503)
      expect(await response.json()).toMatchObject({ error: { code: 'DATABASE_UNAVAILABLE' } })
    } finally {
      proxy.resume()
      holder.release()
    }
    // The late answer reaches a connection that no longer exists: no COMMIT follows it.
    expect(await writeOnceBack(key, 'after')).toBe(1)
    expect(await row(key)).toEqual({ value: 'after', version: '1' })
  })
})

describe('expected_version', () => {
  it('rejects a transaction whose COMMIT fails with an error, rather than acknowledging it', async () => {
    // A deferred constraint is checked at COMMIT: the COMMIT fails, and nothing is committed.
    const committed = api.deps.db.transaction(async (tx) => {
      await tx`CREATE TEMP TABLE deferred_check (id int,
        CONSTRAINT one_each UNIQUE (id) DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP`
      await tx`INSERT INTO deferred_check VALUES (1), (1)`
      return 'acknowledged'
    })
    await expect(committed).rejects.toMatchObject({ code: '23505' })
  })

  it('writes only at the expected version, else 409 VERSION_CONFLICT with the current one', async () => {
    const key = 'cas'
    const created = await api.request('/write', { json: { key, value: 'a', expected_version: 0 } })
    expect(created.status).toBe(200)
    expect(await created.json()).toMatchObject({ version: 1 })

    const stale = await api.request('/write', { json: { key, value: 'b', expected_version: 0 } })
    expect(stale.status).toBe(409)
    expect(await stale.json()).toEqual({
      success: false,
      key,
      current_version: 1,
      error: { code: 'VERSION_CONFLICT', message: expect.any(String) },
    })
    expect(await row(key)).toEqual({ value: 'a', version: '1' })

    const next = await api.request('/write', { json: { key, value: 'b', expected_version: 1 } })
    expect(await next.json()).toMatchObject({ success: true, version: 2 })
    expect((await read(api, key)).body).toMatchObject({ value: 'b', version: 2 })
  })

  it("counts a deleted key's version as the deletion's", async () => {
    const key = 'cas-deleted'
    await write(api, key, 'a')
    const deleted = (await (await api.request('/delete', { json: { key } })).json()) as {
      version: number
    }
    expect(deleted.version).toBe(2)
    const never = await api.request('/write', { json: { key, value: 'b', expected_version: 0 } })
    expect(never.status).toBe(409)
    expect(await never.json()).toMatchObject({ current_version: 2 })
    const again = await api.request('/write', { json: { key, value: 'b', expected_version: 2 } })
    expect(await again.json()).toMatchObject({ success: true, version: 3 })
  })

  it('makes a retry after a lost COMMIT reply apply at most once', async () => {
    const key = 'cas-retry'
    await writeOnceBack(key, 'v1')
    await databaseBack()
    const cut = proxy.cutAfterClientMatch(COMMIT_STATEMENT)
    const first = await api.request('/write', { json: { key, value: 'v2', expected_version: 1 } })
    await cut
    expect(first.status).toBe(504)
    let retry: Response | undefined
    await eventually(async () => {
      retry = await api.request('/write', { json: { key, value: 'v2', expected_version: 1 } })
      expect(retry.status).not.toBe(503)
    })
    // The first attempt had committed: the retry is refused instead of making a version 3.
    expect(retry?.status).toBe(409)
    expect(await retry?.json()).toMatchObject({ current_version: 2 })
    expect(await row(key)).toEqual({ value: 'v2', version: '2' })
  })

  it('refuses a negative or fractional expected_version with 400', async () => {
    for (const expected_version of [-1, 1.5, '1', null]) {
      const response = await api.request('/write', {
        json: { key: 'cas-bad', value: 'x', expected_version },
      })
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } })
    }
    expect(await row('cas-bad')).toBeUndefined()
  })
})
