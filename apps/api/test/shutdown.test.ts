import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiProcess, type Servers, startApiProcess, startServers } from './harness.js'

let servers: Servers
let replica: ApiProcess | undefined

beforeAll(async () => {
  servers = await startServers()
})
afterAll(async () => {
  await replica?.stop()
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
    replica = await startApiProcess(servers, { REPLICA_ID: 'drainer', DRAIN_DELAY: '1' })
    const { base, child, exited } = replica

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
        child.kill('SIGTERM')
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

    const sql = postgres(servers.postgres.url, { max: 1 })
    const rows = await sql`SELECT value FROM records WHERE key = 'in-flight'`
    await sql.end()
    expect(rows).toEqual([{ value: 'made it' }])
  })

  it('serves a request that arrives on a connection accepted just before the listener closed', async () => {
    // nginx opens one connection per request: at the instant a replica stops accepting, one may
    // be accepted with its request not read yet. Node counts such a connection as active, not
    // idle, so the drain serves it; were it closed as idle, nginx would answer a POST sent on it
    // with 502 (it does not resend a POST elsewhere).
    replica = await startApiProcess(servers, { REPLICA_ID: 'accepts-then-drains' })
    const { base, child, exited } = replica
    const { hostname, port } = new URL(base)
    const socket = await new Promise<Socket>((resolve, reject) => {
      const opened = connect(Number(port), hostname, () => resolve(opened))
      opened.once('error', reject)
    })
    // The replica has accepted it once it answers a request on another connection.
    expect((await fetch(`${base}/health/live`)).status).toBe(200)
    child.kill('SIGTERM')
    await poll('the listener to close', () =>
      fetch(`${base}/health/live`).then(
        () => undefined,
        () => true,
      ),
    )
    const body = JSON.stringify({ key: 'accepted-before-close', value: 'served' })
    const answer = new Promise<string>((resolve, reject) => {
      let text = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk) => {
        text += chunk
      })
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
    })
    socket.write(
      `POST /write HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(await exited).toBe(0)
  })
})
