import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { StackError } from './errors.js'
import { readStack } from './running-stack.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A data directory as `pnpm stack up` leaves it: state file, and the credentials file. */
function dataDir(
  external: Record<string, string> = {},
  withCredentials = true,
  version = 1,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-running-stack-'))
  dirs.push(dir)
  const own = Object.keys(external).length === 0
  writeFileSync(
    join(dir, 'stack.json'),
    JSON.stringify({
      version,
      options: { mode: 'multi', lb: 'round-robin', nginxPort: 8005, rateLimit: own },
      external,
      components: [
        ...(own
          ? [
              {
                name: 'postgres',
                kind: 'postgres',
                pid: 10,
                port: 5436,
                url: 'postgres://strata:***@127.0.0.1:5436/strata',
              },
              {
                name: 'redis',
                kind: 'redis',
                pid: 11,
                port: 6383,
                url: 'redis://strata-api:***@127.0.0.1:6383',
              },
            ]
          : []),
        { name: 'replica-1', kind: 'replica', pid: 12, port: 8101, url: 'http://127.0.0.1:8101' },
        { name: 'nginx', kind: 'nginx', pid: 13, port: 8005, url: 'http://127.0.0.1:8005' },
      ],
    }),
  )
  if (withCredentials) {
    writeFileSync(
      join(dir, 'credentials.json'),
      JSON.stringify({
        version: 1,
        postgres: { superuserPassword: 'su/pw', apiPassword: 'api-pw' },
        redis: { adminPassword: 'admin-pw', apiPassword: 'redis-api-pw' },
      }),
    )
  }
  return dir
}

describe('readStack', () => {
  it('builds full URLs from the credentials file: the superuser for seeding, Redis admin for INFO', () => {
    const stack = readStack(dataDir())
    expect(stack).toMatchObject({
      nginxUrl: 'http://127.0.0.1:8005',
      rateLimited: true,
      databaseUrl: 'postgres://postgres:su%2Fpw@127.0.0.1:5436/strata',
      redisUrl: 'redis://default:admin-pw@127.0.0.1:6383',
    })
  })

  it('uses an external Redis URL only when it was recorded with nothing hidden', () => {
    expect(readStack(dataDir({ redis: 'redis://10.0.0.5:6379' }))?.redisUrl).toBe(
      'redis://10.0.0.5:6379',
    )
    expect(readStack(dataDir({ redis: 'redis://u:***@10.0.0.5:6379' }))?.redisUrl).toBeUndefined()
    expect(readStack(dataDir({ database: 'postgres://db/x' }))?.databaseUrl).toBeUndefined()
    expect(readStack(dataDir({ database: 'postgres://db/x' }))?.rateLimited).toBe(false)
  })

  it('lists every node of a Redis Cluster, and gives no one-node URL for the whole of it', () => {
    const dir = dataDir()
    const state = JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8'))
    state.options.redis = 'cluster'
    state.components = state.components.filter((c: { kind: string }) => c.kind !== 'redis')
    for (const node of [1, 2, 3, 4, 5, 6])
      state.components.push({
        name: `redis-${node}`,
        kind: 'redis',
        pid: 20 + node,
        port: 7000 + node,
      })
    writeFileSync(join(dir, 'stack.json'), JSON.stringify(state))
    const stack = readStack(dir)
    expect(stack?.redisTopology).toBe('cluster')
    expect(stack?.redisUrl).toBeUndefined()
    expect(stack?.redisNodeUrls).toHaveLength(6)
    expect(stack?.redisNodeUrls[0]).toBe('redis://default:admin-pw@127.0.0.1:7001')
    expect(stack?.pids.redis).toEqual([21, 22, 23, 24, 25, 26])
    expect(readStack(dataDir())).toMatchObject({
      redisTopology: 'single',
      redisNodeUrls: ['redis://default:admin-pw@127.0.0.1:6383'],
    })
  })

  it('finds nothing in a directory no stack was started from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-running-stack-'))
    dirs.push(dir)
    expect(readStack(dir)).toBeUndefined()
  })

  it('refuses a state file written by another version of the stack runner', () => {
    expect(() => readStack(dataDir({}, true, 2))).toThrow(StackError)
    expect(() => readStack(dataDir({}, true, 2))).toThrow(/another version of the stack runner/)
  })

  it('groups the pids by kind, for pausing a stack and reading its CPU time', () => {
    expect(readStack(dataDir())?.pids).toEqual({
      postgres: [10],
      redis: [11],
      replica: [12],
      nginx: [13],
    })
  })
})
