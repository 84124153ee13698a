import { rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createConnection } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { locateBinaries } from '../src/stack/binaries.js'
import { type RunningComponent, startNginx, stopComponent } from '../src/stack/components.js'
import { resolveStackConfig } from '../src/stack/config.js'
import { quietReporter } from '../src/stack/reporter.js'
import { freeStackPorts, makeDataDir } from './helpers.js'

/**
 * The errors nginx produces itself must be JSON like the API's own. nginx runs from the stack's
 * real configuration (local.conf.template, the shared snippets and templates) in front of a
 * stand-in replica whose misbehaviour the test controls: it never answers /read/hold, and it
 * drops the connection on /read/drop.
 */
describe('errors produced by nginx itself are JSON', () => {
  let dataDir: string
  let upstream: Server
  let nginx: RunningComponent
  let base: string
  let port: number

  beforeAll(async () => {
    dataDir = makeDataDir()
    const ports = await freeStackPorts(1)
    upstream = createServer((req, res) => {
      if (req.url === '/read/hold') return // never answers
      if (req.url === '/read/drop') {
        req.socket.destroy()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"alive"}')
    })
    await new Promise<void>((resolve) =>
      upstream.listen(ports.replicaPortBase, '127.0.0.1', resolve),
    )
    const config = resolveStackConfig({
      dataDir,
      replicas: 1,
      ...ports,
      // A replica that does not answer for 1 s counts as timed out, so the test need not wait 30 s.
      nginx: { rateLimit: false, proxyTimeout: 1 },
    })
    const unused = 'unused'
    nginx = await startNginx({
      config,
      binaries: locateBinaries({ postgres: false, redis: false }, quietReporter),
      reporter: quietReporter,
      credentials: {
        version: 1,
        postgres: { superuserPassword: unused, apiPassword: unused },
        redis: { adminPassword: unused, apiPassword: unused },
      },
      urls: {
        databaseUrl: unused,
        adminDatabaseUrl: unused,
        redisUrl: unused,
        adminRedisUrl: unused,
      },
    })
    port = ports.nginxPort
    base = `http://127.0.0.1:${port}`
  })
  afterAll(async () => {
    if (nginx) await stopComponent(nginx.state)
    upstream?.closeAllConnections()
    await new Promise((resolve) => upstream?.close(resolve))
    rmSync(dataDir, { recursive: true, force: true })
  })

  /** Checks the shape every error body shares, and returns its code. */
  async function errorCode(response: Response): Promise<string> {
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/)
    const body = (await response.json()) as {
      success: boolean
      error: { code: string; message: string }
    }
    expect(body.success).toBe(false)
    expect(body.error.message.length).toBeGreaterThan(0)
    return body.error.code
  }

  /** Sends raw bytes and parses the status line, headers and body of nginx's answer. */
  function raw(request: string): Promise<{ status: number; headers: string; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port })
      let text = ''
      socket.on('data', (chunk) => {
        text += chunk.toString()
      })
      socket.on('error', reject)
      socket.on('close', () => {
        const [head = '', body = ''] = text.split('\r\n\r\n')
        resolve({ status: Number(head.split(' ')[1]), headers: head, body })
      })
      socket.end(request)
    })
  }

  it('504 when a replica does not answer in time, then 502 when it drops the connection', async () => {
    const timedOut = await fetch(`${base}/read/hold`)
    expect(timedOut.status).toBe(504)
    expect(await errorCode(timedOut)).toBe('UPSTREAM_TIMEOUT')

    const dropped = await fetch(`${base}/read/drop`)
    expect(dropped.status).toBe(502)
    expect(await errorCode(dropped)).toBe('UPSTREAM_UNAVAILABLE')
  })

  it('413 for a body over the cap', async () => {
    const response = await fetch(`${base}/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(1088 * 1024 + 1),
    })
    expect(response.status).toBe(413)
    expect(await errorCode(response)).toBe('PAYLOAD_TOO_LARGE')
  })

  it('400 for a malformed request, 414 for a long URI, 431 for a large header', async () => {
    const cases = [
      { request: 'NOT HTTP AT ALL\r\n\r\n', status: 400, code: 'BAD_REQUEST' },
      {
        request: `GET /read/${'k'.repeat(9000)} HTTP/1.1\r\nHost: strata\r\n\r\n`,
        status: 414,
        code: 'URI_TOO_LONG',
      },
      {
        request: `GET /read/k HTTP/1.1\r\nHost: strata\r\nX-Big: ${'h'.repeat(9000)}\r\n\r\n`,
        status: 431,
        code: 'REQUEST_HEADER_TOO_LARGE',
      },
    ]
    for (const { request, status, code } of cases) {
      const answer = await raw(request)
      expect(answer.status, code).toBe(status)
      expect(answer.headers.toLowerCase()).toContain('content-type: application/json')
      expect(JSON.parse(answer.body)).toMatchObject({ success: false, error: { code } })
    }
  })
})
