import { freePort } from '@strata/test-servers'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../src/logger.js'
import {
  randomSecret,
  runServerUntilExit,
  type Servers,
  spawnServer,
  startReplica,
  startSecuredServers,
  type TestReplica,
  write,
} from './harness.js'

const ADMIN_TOKEN = randomSecret('admin-token')
/** Every secret of the run: the admin token and the servers' passwords. */
const SECRETS = [ADMIN_TOKEN]

/** Fails naming the secret and where it appeared; passes when none of them is in `text`. */
function expectNoSecret(text: string, where: string): void {
  for (const value of SECRETS) {
    expect(text.includes(value), `${where} contains a secret`).toBe(false)
    // Percent-encoded, as a URL would carry it.
    expect(text.includes(encodeURIComponent(value)), `${where} contains a secret`).toBe(false)
  }
}

let servers: Servers
let apiPassword: string
let admin: Redis

beforeAll(async () => {
  const secured = await startSecuredServers()
  servers = secured.servers
  SECRETS.push(...Object.values(secured.secrets))
  apiPassword = secured.secrets.apiPassword
  admin = new Redis(servers.redis.url)
})
afterAll(async () => {
  admin?.disconnect()
  await servers?.stop()
})

/** Every admin call worth trying: the right token and the wrong ones. */
async function clearCacheAttempts(send: (init: RequestInit) => Promise<Response>) {
  const statuses: number[] = []
  for (const authorization of [
    `Bearer ${ADMIN_TOKEN}`,
    `bearer ${ADMIN_TOKEN}`,
    `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
    `Bearer ${ADMIN_TOKEN}x`,
    `Basic ${ADMIN_TOKEN}`,
    ADMIN_TOKEN,
  ]) {
    statuses.push(
      (await send({ method: 'POST', headers: { Authorization: authorization } })).status,
    )
  }
  return statuses
}

describe('secrets never reach logs or responses', () => {
  let replica: TestReplica
  const lines: string[] = []

  beforeAll(async () => {
    replica = await startReplica(
      servers,
      {
        REDIS_URL: servers.redis.urlFor('strata-api'),
        ADMIN_TOKEN,
        ACCESS_LOG: 'true',
        LOG_LEVEL: 'trace',
      },
      lines,
    )
  })
  afterAll(async () => {
    await replica?.close()
  })

  it('logs /clear-cache calls, right and wrong, and Redis failures without the token or a password', async () => {
    await write(replica, 'k', 'v')
    const statuses = await clearCacheAttempts((init) => replica.request('/clear-cache', init))
    expect(statuses).toEqual([200, 200, 401, 401, 401, 401])
    // A token sent where it does not belong (the query string) is not logged either.
    await replica.request(`/clear-cache?token=${ADMIN_TOKEN}`, { method: 'POST' })

    // Redis refuses the replica's credentials (its password changed): every reconnect fails.
    await admin.acl('SETUSER', 'strata-api', 'resetpass', `>${randomSecret('rotated')}`)
    await admin.client('KILL', 'USER', 'strata-api')
    await expect
      .poll(() => lines.some((line) => line.includes('WRONGPASS')), { timeout: 10_000 })
      .toBe(true)
    // Errors answered while Redis refuses: a write and a clear (both logged with their error).
    expect((await replica.request('/write', { json: { key: 'k', value: 'w' } })).status).toBe(503)
    expect(
      (
        await replica.request('/clear-cache', {
          method: 'POST',
          headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).status,
    ).toBe(503)
    await admin.acl('SETUSER', 'strata-api', 'resetpass', `>${apiPassword}`)

    const logged = lines.join('\n')
    expect(logged).toContain('cache cleared cluster-wide')
    expect(logged).toContain('"path":"/clear-cache"')
    expect(logged).toContain('"level":50')
    expectNoSecret(logged, 'the replica log')
  })

  it('shows neither the token nor a password in /health, /cache-stats, /metrics or the API docs', async () => {
    for (const path of ['/health', '/cache-stats', '/metrics', '/openapi.json', '/docs']) {
      const response = await replica.request(path)
      expectNoSecret(await response.text(), path)
      expectNoSecret(JSON.stringify([...response.headers]), `${path} headers`)
    }
  })

  it('drops the password ioredis attaches to a refused AUTH before logging the error', async () => {
    // A real WRONGPASS error: ioredis puts the AUTH arguments, password included, on it.
    const wrong = randomSecret('wrong')
    SECRETS.push(wrong)
    const client = new Redis(`redis://strata-api:${wrong}@127.0.0.1:${servers.redis.port}`, {
      lazyConnect: true,
      retryStrategy: () => null,
    })
    const error = await new Promise<Error>((resolve) => {
      client.once('error', resolve)
      client.connect().catch(() => {})
    })
    client.disconnect()
    expect(JSON.stringify((error as Error & { command?: unknown }).command)).toContain(wrong)

    const out: string[] = []
    const logger = createLogger(
      { LOG_LEVEL: 'info', NODE_ENV: 'production', REPLICA_ID: 'r' },
      { write: (line: string) => out.push(line) },
    )
    logger.error({ err: error }, 'redis failed')
    logger.error({ err: new Error('wrapped', { cause: error }) }, 'redis failed, wrapped')
    const text = out.join('\n')
    expect(text).toContain('WRONGPASS')
    expect(text).toContain('"name":"auth"')
    expectNoSecret(text, 'the logged error')
  })
})

describe('the server process prints no secret', () => {
  it('from start-up to shutdown, with access logs on and admin calls made', async () => {
    const port = await freePort()
    const server = spawnServer({
      PORT: String(port),
      DATABASE_URL: servers.postgres.url,
      REDIS_URL: servers.redis.urlFor('strata-api'),
      ADMIN_TOKEN,
      ACCESS_LOG: 'true',
      LOG_LEVEL: 'trace',
    })
    const base = `http://127.0.0.1:${port}`
    try {
      await expect
        .poll(
          async () =>
            (await fetch(`${base}/health/ready`).then(
              (r) => r.status,
              () => 0,
            )) === 200,
          { timeout: 30_000, interval: 50 },
        )
        .toBe(true)
      const statuses = await clearCacheAttempts((init) => fetch(`${base}/clear-cache`, init))
      expect(statuses).toEqual([200, 200, 401, 401, 401, 401])
      await fetch(`${base}/cache-stats`)
      await fetch(`${base}/metrics`)
    } finally {
      server.kill('SIGTERM')
    }
    expect(await server.exited).toBe(0)
    expect(server.output()).toContain('listening')
    expect(server.output()).toContain('"path":"/clear-cache"')
    expectNoSecret(server.output(), 'the server output')
  })

  it('when the configuration is invalid: the message names the variables, not their secret values', async () => {
    const shortToken = randomSecret('short').slice(0, 12)
    const badUrl = `postgres://strata:${apiPassword}@127.0.0.1:99999/strata`
    const { code, output } = await runServerUntilExit({
      ADMIN_TOKEN: shortToken,
      DATABASE_URL: badUrl,
      REDIS_URL: `ftp://strata-api:${apiPassword}@127.0.0.1:1`,
    })
    expect(code).toBe(2)
    expect(output).toContain('ADMIN_TOKEN: at least 16 characters')
    expect(output).toContain('DATABASE_URL:')
    expect(output).toContain('REDIS_URL:')
    expect(output).not.toContain(shortToken)
    expectNoSecret(output, 'the configuration error')
  })
})
