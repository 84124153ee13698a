import { type ChildProcess, spawn } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { freePort, stopProcess } from '@strata/test-servers'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Servers, startServers } from './harness.js'

let servers: Servers
let child: ChildProcess | undefined
const apiDir = fileURLToPath(new URL('..', import.meta.url))

beforeAll(async () => {
  servers = await startServers()
})
afterAll(async () => {
  if (child) await stopProcess(child, 'SIGKILL')
  await servers?.stop()
})

async function poll<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('graceful shutdown', () => {
  it('turns readiness false first, lets an in-flight request finish, then exits 0', async () => {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: apiDir,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: servers.postgres.url,
        REDIS_URL: servers.redis.url,
        REPLICA_ID: 'drainer',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
        DRAIN_DELAY: '1',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const exited = new Promise<number | null>((resolve) =>
      child?.once('exit', (code) => resolve(code)),
    )
    await poll('readiness', async () =>
      (await fetch(`${base}/health/ready`)).status === 200 ? true : undefined,
    )

    // An in-flight write: headers and half the body now, the rest after SIGTERM.
    const body = JSON.stringify({ key: 'in-flight', value: 'made it' })
    const events: string[] = []
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${base}/write`,
        {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = ''
          res.on('data', (chunk) => {
            text += chunk
          })
          res.on('end', () => {
            events.push('in-flight request answered')
            resolve({ status: res.statusCode ?? 0, text })
          })
        },
      )
      req.on('error', reject)
      req.write(body.slice(0, 10))
      setImmediate(() => {
        child?.kill('SIGTERM')
        poll('readiness to turn false', async () => {
          const status = (await fetch(`${base}/health/ready`)).status
          return status === 503 ? true : undefined
        }).then(() => {
          events.push('readiness false')
          req.end(body.slice(10))
        }, reject)
      })
    })

    const answered = await response
    expect(answered.status).toBe(200)
    expect(JSON.parse(answered.text)).toMatchObject({ success: true, key: 'in-flight', version: 1 })
    expect(events).toEqual(['readiness false', 'in-flight request answered'])
    expect(await exited).toBe(0)
    child = undefined

    const sql = postgres(servers.postgres.url, { max: 1 })
    const rows = await sql`SELECT value FROM records WHERE key = 'in-flight'`
    await sql.end()
    expect(rows).toEqual([{ value: 'made it' }])
  })
})
