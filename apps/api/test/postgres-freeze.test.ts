import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, read, startCluster, write } from './harness.js'

// PostgreSQL frozen with SIGSTOP: it accepts connections and bytes (the kernel does that) and
// never answers. The replica runs with a deadline of 0.5 s per round trip.
const DEADLINE_MS = 500

const {
  servers,
  replicas: [api],
} = await startCluster({ DB_QUERY_TIMEOUT: String(DEADLINE_MS / 1000) })
let direct: postgres.Sql
/** The postmaster's pid; every PostgreSQL process is its child. */
let postmaster: number

beforeAll(async () => {
  direct = postgres(servers.postgres.url, { max: 1, onnotice: () => {} })
  const [setting] = await direct<{ setting: string }[]>`
    SELECT setting FROM pg_settings WHERE name = 'data_directory'`
  // postmaster.pid's first line is the postmaster's pid.
  postmaster = Number(
    readFileSync(join(setting?.setting ?? '', 'postmaster.pid'), 'utf8').split('\n')[0],
  )
  expect(Number.isInteger(postmaster)).toBe(true)
})
afterAll(async () => {
  await direct?.end({ timeout: 1 })
})

/** The postmaster and its children (backends, checkpointer, …), read from /proc. */
function postgresProcesses(): number[] {
  const children = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        // The command name is in parentheses and may hold spaces: the ppid follows the last ')'.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster
      } catch {
        return false // exited meanwhile
      }
    })
    .map(Number)
  return [postmaster, ...children]
}

/** SIGSTOPs every PostgreSQL process (the postmaster first, so it forks no new backend). */
function freeze(): () => void {
  const pids = postgresProcesses()
  for (const pid of pids) process.kill(pid, 'SIGSTOP')
  let thawed = false
  return () => {
    if (thawed) return
    thawed = true
    for (const pid of pids) process.kill(pid, 'SIGCONT')
  }
}

describe('a frozen PostgreSQL', () => {
  it('answers 503 within the deadline instead of hanging, and commits nothing it refused', async () => {
    await write(api, 'frozen', 'v1')
    const thaw = freeze()
    // A hang shows as answers that came only after this safety thaw, not as a stuck run.
    const safety = setTimeout(thaw, 10_000)
    const started = performance.now()
    const elapsed: number[] = []
    const timed = (request: Promise<Response>) =>
      request.then((response) => {
        elapsed.push(performance.now() - started)
        return response
      })
    try {
      // A read that needs the database and a write, both sent while it still counts as up.
      const answers = await Promise.all([
        timed(api.request('/read/not-cached')),
        timed(api.request('/write', { json: { key: 'frozen', value: 'refused' } })),
      ])
      clearTimeout(safety)
      for (const response of answers) {
        expect(response.status).toBe(503)
        expect(await response.json()).toMatchObject({ error: { code: 'DATABASE_UNAVAILABLE' } })
      }
      // About the deadline: not before it, and long before the safety thaw (a hang).
      for (const ms of elapsed) {
        expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50)
        expect(ms).toBeLessThan(DEADLINE_MS + 4_000)
      }
      // The database now counts as unavailable: the next request is refused at once.
      const askedAt = performance.now()
      const next = await api.request('/read/not-cached-either')
      expect(next.status).toBe(503)
      expect(performance.now() - askedAt).toBeLessThan(250)
    } finally {
      clearTimeout(safety)
      thaw()
    }

    // Back once PostgreSQL answers a probe.
    await eventually(async () => {
      expect(
        (await api.request('/write', { json: { key: 'after-freeze', value: 'ok' } })).status,
      ).toBe(200)
    })
    // The refused write never committed, not even once PostgreSQL read what it had been sent.
    expect(await write(api, 'frozen', 'v2')).toBe(2)
    expect((await read(api, 'frozen')).body).toMatchObject({ value: 'v2', version: 2 })
  })

  it('answers 504 OUTCOME_UNKNOWN when COMMIT gets no answer within the deadline', async () => {
    await eventually(async () => expect(api.deps.db.available()).toBe(true))
    await write(api, 'commit-frozen', 'v1')
    // Holds the write between its upsert and its COMMIT: its invalidation waits for a gate.
    const cache = api.deps.cache
    const invalidate = cache.invalidate
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    let open: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    cache.invalidate = async (key, version) => {
      entered()
      await gate
      return invalidate.call(cache, key, version)
    }
    let thaw: (() => void) | undefined
    let pending: Promise<Response>
    try {
      pending = api.request('/write', { json: { key: 'commit-frozen', value: 'v2' } })
      await inside
      // PostgreSQL freezes with the transaction open; the COMMIT then goes out to a PostgreSQL
      // that cannot answer.
      thaw = freeze()
      open()
    } finally {
      cache.invalidate = invalidate
    }
    const safety = setTimeout(() => thaw?.(), 10_000)
    try {
      const response = await pending
      expect(response.status).toBe(504)
      expect(await response.json()).toMatchObject({ error: { code: 'OUTCOME_UNKNOWN' } })
    } finally {
      clearTimeout(safety)
      thaw?.()
    }
  })
})
