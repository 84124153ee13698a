import { loadScripts } from '@strata/cache-core'
import { freePort } from '@strata/test-servers'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ApiProcess,
  eventually,
  PRELOADED_SCRIPTS,
  randomSecret,
  read,
  runServerUntilExit,
  type Servers,
  startApiProcess,
  startReplica,
  startSecuredServers,
  type TestReplica,
  type TestSecrets,
  write,
} from './harness.js'

let servers: Servers
let secrets: TestSecrets
let a: TestReplica
let b: TestReplica
let admin: Redis

beforeAll(async () => {
  ;({ servers, secrets } = await startSecuredServers())
  const env = { REDIS_URL: servers.redis.urlFor('strata-api'), ...PRELOADED_SCRIPTS }
  a = await startReplica(servers, env)
  b = await startReplica(servers, env)
  admin = new Redis(servers.redis.url)
})
afterAll(async () => {
  admin?.disconnect()
  await Promise.all([a?.close(), b?.close()])
  await servers?.stop()
})

/** A connection as the API's restricted user, for trying what it must not be able to do. */
const asApiUser = () =>
  new Redis(servers.redis.urlFor('strata-api'), {
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
  })

describe('Redis ACL user and PostgreSQL password', () => {
  it('serves the whole API through the restricted Redis user and a password-protected PostgreSQL', async () => {
    expect(servers.postgres.url).toContain(`:${secrets.postgresPassword}@`)
    await admin.acl('LOG', 'RESET')

    const v1 = await write(a, 'acl:key', 'one')
    // The writer's fill (its fence took the fill lease, its set ran, as the restricted user).
    expect((await read(b, 'acl:key')).level).toBe('L2')
    expect(await read(b, 'acl:key')).toMatchObject({ level: 'L1', body: { version: v1 } })
    // The invalidation travels over the bus (SUBSCRIBE/PUBLISH as the restricted user).
    const v2 = await write(a, 'acl:key', 'two')
    await expect
      .poll(async () => (await read(b, 'acl:key')).body.version, { timeout: 2_000 })
      .toBe(v2)
    // An L2 hit on a replica whose L1 does not hold the key (Lua sets ran as the restricted user).
    await read(a, 'acl:key')
    expect(await read(a, 'acl:key')).toMatchObject({ level: 'L1', body: { value: 'two' } })
    expect((await read(a, 'missing')).status).toBe(404)
    expect((await a.request('/delete', { json: { key: 'acl:key' } })).status).toBe(200)

    const clear = await a.request('/clear-cache', {
      method: 'POST',
      headers: { Authorization: 'Bearer test-admin-token-0123456789' },
    })
    expect(clear.status).toBe(200)
    await a.deps.cluster?.flush()
    await b.deps.cluster?.flush()
    const stats = (await (await a.request('/cache-stats')).json()) as {
      cluster: { replicas: unknown[]; error?: string }
    }
    expect(stats.cluster.error).toBeUndefined()
    expect(stats.cluster.replicas).toHaveLength(2)
    expect(await (await a.request('/health')).json()).toMatchObject({
      status: 'healthy',
      checks: { database: { status: 'up' }, l2: 'up', bus: 'up' },
    })

    // Redis records every command it refused to a user: none, so the rules cover the API.
    expect(await admin.acl('LOG')).toEqual([])
  })

  it('keeps the restricted Redis user off admin commands and off keys and channels outside strata:', async () => {
    await admin.set('other:secret', 'untouched')
    const redis = asApiUser()
    const subscriber = asApiUser()
    try {
      const refusals = {
        FLUSHALL: () => redis.flushall(),
        FLUSHDB: () => redis.flushdb(),
        'KEYS *': () => redis.keys('*'),
        'SCAN 0': () => redis.scan(0),
        RANDOMKEY: () => redis.randomkey(),
        'CONFIG GET *': () => redis.config('GET', '*'),
        INFO: () => redis.info(),
        'CLIENT LIST': () => redis.client('LIST'),
        'ACL LIST': () => redis.acl('LIST'),
        'SCRIPT FLUSH': () => redis.script('FLUSH'),
        // Any Lua of its own, even harmless: only Strata's scripts, loaded by an admin, by SHA.
        'EVAL return 1': () => redis.eval('return 1', 0),
        'SCRIPT LOAD': () => redis.script('LOAD', 'return 1'),
        SAVE: () => redis.save(),
        SHUTDOWN: () => redis.call('SHUTDOWN', 'NOSAVE'),
        'GET other:secret': () => redis.get('other:secret'),
        'SET other:secret': () => redis.set('other:secret', 'changed'),
        'DEL other:secret': () => redis.del('other:secret'),
        'EVAL on other:secret': () =>
          redis.eval("return redis.call('GET', KEYS[1])", 1, 'other:secret'),
        'EVAL on an undeclared key': () =>
          redis.eval("return redis.call('SET', 'other:secret', 'x')", 0),
        'PUBLISH other': () => redis.publish('other-channel', 'x'),
        'SUBSCRIBE other': () => subscriber.subscribe('other-channel'),
        // Cluster mode: the slot map only, not the cluster's administration.
        'CLUSTER NODES': () => redis.call('CLUSTER', 'NODES'),
        'CLUSTER RESET': () => redis.call('CLUSTER', 'RESET'),
        'SPUBLISH other': () => redis.call('SPUBLISH', 'other-channel', 'x'),
        'SSUBSCRIBE other': () => subscriber.call('SSUBSCRIBE', 'other-channel'),
      }
      for (const [command, attempt] of Object.entries(refusals)) {
        await expect(attempt(), command).rejects.toThrow(/NOPERM|no permissions|can't access/i)
      }
      // What it needs still works.
      expect(await redis.set('strata:k:probe', 'x')).toBe('OK')
      expect(await redis.call('SPUBLISH', 'strata:{0}:bus', 'x')).toBe(0)
      // A single server has no slot map, but the user may ask for it.
      await expect(redis.call('CLUSTER', 'SLOTS')).rejects.toThrow(/cluster support disabled/)
      // ASKING too, which follows an ASK redirection while a slot migrates.
      await expect(redis.call('ASKING')).rejects.toThrow(/cluster support disabled/)
      expect(await admin.get('other:secret')).toBe('untouched')
    } finally {
      redis.disconnect()
      subscriber.disconnect()
    }
  })

  it('refuses PostgreSQL logins without the password or with a wrong one', async () => {
    const attempt = async (url: string) => {
      const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} })
      try {
        await sql`SELECT 1`
      } finally {
        await sql.end({ timeout: 1 })
      }
    }
    const base = new URL(servers.postgres.url)
    base.password = ''
    await expect(attempt(base.toString())).rejects.toThrow(/password/)
    base.password = 'wrong-password'
    await expect(attempt(base.toString())).rejects.toThrow(/password authentication failed/)
    await expect(attempt(servers.postgres.url)).resolves.toBeUndefined()
  })
})

describe('Lua scripts loaded by the admin, not by the API', () => {
  let replica: ApiProcess | undefined
  afterAll(() => replica?.stop())

  it('without them (Redis just restarted), a replica serves from PostgreSQL, refuses writes and says why; once loaded, L2 and L1 are back', async () => {
    await admin.script('FLUSH')
    replica = await startApiProcess(servers, {
      REDIS_URL: servers.redis.urlFor('strata-api'),
      ...PRELOADED_SCRIPTS,
      LOG_LEVEL: 'info',
    })
    const base = replica.base
    const writeStatus = async () =>
      (
        await fetch(`${base}/write`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ key: 'acl:scripts', value: 'v' }),
        })
      ).status
    const level = async () => (await fetch(`${base}/read/acl:scripts`)).headers.get('X-Cache-Level')

    expect(await writeStatus()).toBe(503)
    expect((await fetch(`${base}/read/acl:scripts`)).status).toBe(404)
    // Redis answers, so L2 is not "down" in the usual sense: the state says what would fix it.
    expect(await (await fetch(`${base}/health`)).json()).toMatchObject({
      status: 'degraded',
      l2_cache: 'scripts-missing',
      checks: { l2: 'scripts-missing' },
    })
    const output = replica.output()
    expect(output).toContain("does not hold Strata's Lua scripts")
    expect(output).not.toContain('Redis is not reachable yet')
    expect(output).toContain('L2 skipped and writes refused')
    expect(output).toContain('NOSCRIPT')
    expect(output).toContain('deploy/redis/load-scripts.sh')

    await loadScripts(admin)
    await eventually(async () => expect(await writeStatus()).toBe(200))
    expect(await level()).toBe('DB')
    await eventually(async () => expect(await level()).toBe('L1'))
    expect(await (await fetch(`${base}/health`)).json()).toMatchObject({
      status: 'healthy',
      l2_cache: 'connected',
      checks: { l2: 'up' },
    })
  })
})

describe('start-up with wrong credentials', () => {
  const wrong = randomSecret('wrong-password')
  const env = async () => ({
    DATABASE_URL: servers.postgres.url,
    REDIS_URL: servers.redis.urlFor('strata-api'),
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  })

  // Servers start in beforeAll, so each row reads its URLs and secrets when the test runs.
  it.each([
    {
      variable: 'REDIS_URL' as const,
      service: 'Redis',
      url: () => servers.redis.urlFor('strata-api'),
      refusal: 'refused this replica (WRONGPASS',
      shown: () => `redis://strata-api:***@127.0.0.1:${servers.redis.port}`,
      advice: 'check the user name and password in REDIS_URL',
      secret: () => secrets.apiPassword,
    },
    {
      variable: 'DATABASE_URL' as const,
      service: 'PostgreSQL',
      url: () => servers.postgres.url,
      refusal: 'password authentication failed for user',
      shown: () => `postgres://postgres:***@127.0.0.1:${servers.postgres.port}/postgres`,
      advice: 'check DATABASE_URL',
      secret: () => secrets.postgresPassword,
    },
  ])(
    'stops with a clear error naming $variable when $service refuses the password, and never prints it',
    async ({ variable, url, refusal, shown, advice, secret }) => {
      const withWrongPassword = new URL(url())
      withWrongPassword.password = wrong
      const { code, output } = await runServerUntilExit({
        ...(await env()),
        [variable]: withWrongPassword.toString(),
      })
      expect(code, output).toBe(1)
      expect(output).toContain(refusal)
      expect(output).toContain(shown())
      expect(output).toContain(advice)
      expect(output).not.toContain(wrong)
      expect(output).not.toContain(secret())
    },
  )

  it('stops with a clear error when REDIS_URL carries no password for a Redis that needs one', async () => {
    const url = `redis://127.0.0.1:${servers.redis.port}`
    const { code, output } = await runServerUntilExit({ ...(await env()), REDIS_URL: url })
    expect(code, output).toBe(1)
    expect(output).toContain(`Redis at ${url} refused this replica (NOAUTH`)
  })
})
