import { startTcpProxy } from '@strata/testkit'
import { describe, expect, it } from 'vitest'
import { currentVersions } from '../src/db/current-versions.js'
import { eventually, startCluster, startReplica, type TestReplica, write } from './harness.js'

// Every read sampled and checked 50 ms later; a bound of 50 ms, so a stale read shows sooner.
const SLI = {
  CONSISTENCY_SAMPLE_SHARE: '1',
  CONSISTENCY_CHECKS_PER_SECOND: '1000',
  CONSISTENCY_CHECK_DELAY: '0.05',
  CONSISTENCY_STALENESS_BOUND: '0.05',
}

const {
  servers,
  replicas: [a, b],
} = await startCluster({ REPLICA_ID: 'a', ...SLI }, { REPLICA_ID: 'b', ...SLI })

/** The sum of a metric's samples whose labels include `labels`, from the replica's /metrics. */
async function metric(
  replica: TestReplica,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await replica.request('/metrics')).text()
  let total = 0
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const labelText = match[2] ?? ''
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) {
      total += Number(match[3])
    }
  }
  return total
}

/** The cluster totals of /cache-stats on `replica`. */
async function totals(replica: TestReplica) {
  const body = (await (await replica.request('/cache-stats')).json()) as {
    cluster: { totals: Record<string, number | null> }
  }
  return body.cluster.totals
}

/** Reads `key` on `replica`, over its socket (the fast path) or through the router. */
async function readVersion(replica: TestReplica, key: string, via: 'socket' | 'router') {
  const path = `/read/${key}`
  const response = await (via === 'socket' ? replica.overSocket(path) : replica.request(path))
  const body = (await response.json()) as { version?: number }
  return { version: body.version, level: response.headers.get('X-Cache-Level') }
}

describe('the consistency SLI', () => {
  it('counts checks of reads after writes on a healthy cluster, all consistent', async () => {
    for (let round = 0; round < 3; round++) {
      const version = await write(a, 'healthy', `v${round}`)
      // The writer and the other replica, from every tier (DB, L2, then L1), both paths.
      for (const replica of [a, b]) {
        for (const via of ['socket', 'router', 'socket'] as const) {
          expect((await readVersion(replica, 'healthy', via)).version).toBe(version)
        }
      }
    }
    // A deleted key and one never written are checked too (a 404 carries its version).
    await write(a, 'gone', 'x')
    expect((await a.request('/delete', { json: { key: 'gone' } })).status).toBe(200)
    for (const key of ['gone', 'never-written']) await readVersion(b, key, 'socket')
    await eventually(async () => {
      expect(a.deps.consistency.checks).toBeGreaterThanOrEqual(9)
      expect(b.deps.consistency.checks).toBeGreaterThanOrEqual(11)
    })
    for (const replica of [a, b]) {
      expect(replica.deps.consistency).toMatchObject({ stale: 0, dropped: 0 })
      expect(await metric(replica, 'strata_consistency_checks_total', { result: 'stale' })).toBe(0)
      expect(
        await metric(replica, 'strata_consistency_checks_total', { result: 'consistent' }),
      ).toBe(replica.deps.consistency.checks)
    }
    await b.deps.cluster?.flush()
    await eventually(async () => {
      expect(await totals(a)).toMatchObject({
        consistency_checks: a.deps.consistency.checks + b.deps.consistency.checks,
        consistency_stale: 0,
        consistency_nines: 6,
        consistency_bound_ms: 50,
      })
    })
  })

  it('dates a version by its COMMIT, not by its transaction start, as PostgreSQL tracks it', async () => {
    await write(a, 'slow-write', 'one')
    const { sql } = a.deps.db
    // A write whose transaction takes 300 ms from its start (its now(), updated_at) to COMMIT:
    // reads in between rightly see the version before it, and must not count as stale.
    await sql.begin(async (tx) => {
      await tx`UPDATE records SET value = 'two', version = version + 1, updated_at = now()
               WHERE key = 'slow-write'`
      await new Promise((resolve) => setTimeout(resolve, 300))
    })
    const [row] = await sql<{ started: number }[]>`
      SELECT extract(epoch FROM updated_at)::float8 * 1000 AS started
      FROM records WHERE key = 'slow-write'`
    const current = (await currentVersions(a.deps.db, ['slow-write'])).get('slow-write')
    expect(current?.version).toBe(2)
    expect((current?.changedAt as number) - Number(row?.started)).toBeGreaterThanOrEqual(250)
  })

  it('reports a replica made stale on purpose: silent subscriber, no lease', async () => {
    // The stale replica reaches Redis through a proxy that can go silent: no byte passes and no
    // connection closes, so its subscriber hears nothing and never learns it. Production would
    // notice (the lease pauses L1, the heartbeat reconnects); the test-only settings turn both off.
    const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: servers.redis.port } })
    const stale = await startReplica(
      servers,
      { REPLICA_ID: 'stale', REDIS_URL: `redis://127.0.0.1:${proxy.port}`, ...SLI },
      undefined,
      { cache: { busLease: 0, heartbeatInterval: 0 } },
    )
    try {
      const first = await write(a, 'drifting', 'old')
      await readVersion(stale, 'drifting', 'socket')
      expect(await readVersion(stale, 'drifting', 'socket')).toEqual({
        version: first,
        level: 'L1',
      })
      await eventually(async () => expect(stale.deps.consistency.checks).toBe(2))
      expect(stale.deps.consistency.stale).toBe(0)

      proxy.stall()
      const newer = await write(a, 'drifting', 'new')
      expect(newer).toBe(first + 1)
      // The stale replica keeps serving the old version from L1. Each read is checked; those
      // more than the bound after the write are stale. The clock cannot be faked across
      // PostgreSQL, so poll (reads every 20 ms) until one is.
      await eventually(async () => {
        expect(await readVersion(stale, 'drifting', 'socket')).toEqual({
          version: first,
          level: 'L1',
        })
        expect(await readVersion(stale, 'drifting', 'router')).toMatchObject({ version: first })
        expect(stale.deps.consistency.stale).toBeGreaterThanOrEqual(2)
      })
      // Checks of the last polled reads may still land while /metrics is read: compare until
      // they have (no read is made meanwhile, so the counts settle).
      await eventually(async () => {
        const stale_ = stale.deps.consistency.stale
        expect(
          await metric(stale, 'strata_consistency_checks_total', { result: 'stale', level: 'L1' }),
        ).toBe(stale_)
        // Every stale check found the newer version more than the 50 ms bound before the read.
        const observed = await metric(stale, 'strata_consistency_staleness_seconds_count')
        const within = await metric(stale, 'strata_consistency_staleness_seconds_bucket', {
          le: '0.05',
        })
        expect([observed - within, stale.deps.consistency.stale]).toEqual([stale_, stale_])
      })
      // Its own /cache-stats (its Redis link silent, the cluster view is this replica alone).
      // Checks of the last reads may still come in meanwhile.
      const own = await totals(stale)
      expect(own.consistency_stale).toBeGreaterThanOrEqual(2)
      expect(own.consistency_nines).toBeLessThan(6)

      // The link back: the held invalidation arrives, the replica serves the new version, and
      // the cluster view, with the stale replica's row, shows the nines fallen.
      proxy.resume()
      await eventually(async () => {
        expect((await readVersion(stale, 'drifting', 'socket')).version).toBe(newer)
      })
      await eventually(async () => {
        await stale.deps.cluster?.flush()
        const cluster = await totals(a)
        expect(cluster.consistency_stale).toBe(stale.deps.consistency.stale)
        expect(cluster.consistency_nines).toBeLessThan(6)
      })
    } finally {
      await stale.close()
      await proxy.close()
    }
  })
})
