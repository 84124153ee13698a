import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type NginxFixture,
  type RawAnswer,
  rawRequest,
  startNginxFixture,
} from './nginx-fixture.js'

/**
 * The errors nginx produces itself must be JSON like the API's own. nginx runs from the stack's
 * real configuration (local.conf.template, the shared snippets and templates) in front of a
 * stand-in replica whose misbehaviour the test controls: it never answers /read/hold, and it
 * drops the connection on /read/drop.
 */
describe('errors produced by nginx itself are JSON', () => {
  let nginx: NginxFixture
  let base: string
  let port: number
  /** Requests the stand-in replica received. */
  const seen: string[] = []

  beforeAll(async () => {
    nginx = await startNginxFixture({
      upstream: (req, res) => {
        seen.push(`${req.method} ${req.url} host=${req.headers.host}`)
        if (req.url === '/read/hold') return // never answers
        if (req.url === '/read/drop') {
          req.socket.destroy()
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"alive"}')
      },
      // A replica that does not answer for 1 s counts as timed out, so the test need not wait 30 s.
      nginx: { proxyTimeout: 1 },
    })
    port = nginx.port
    base = nginx.url
  })
  afterAll(async () => {
    await nginx?.stop()
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

  const raw = (request: string) => rawRequest(port, request)

  it('504 when a replica does not answer in time, then 502 when it drops the connection', async () => {
    const timedOut = await fetch(`${base}/read/hold`)
    expect(timedOut.status).toBe(504)
    expect(await errorCode(timedOut)).toBe('UPSTREAM_TIMEOUT')

    const dropped = await fetch(`${base}/read/drop`)
    expect(dropped.status).toBe(502)
    expect(await errorCode(dropped)).toBe('UPSTREAM_UNAVAILABLE')
  })

  it('413 for a body over the cap of its route: 1088 KiB on /write, 4 KiB anywhere else', async () => {
    const small = await fetch(`${base}/health`, { method: 'POST', body: 'x'.repeat(4097) })
    expect(small.status).toBe(413)
    expect(await errorCode(small)).toBe('PAYLOAD_TOO_LARGE')
    // Chunked, so nginx cannot tell from a Content-Length: refused once the body passes 4 KiB.
    const chunked = await raw(
      'POST /read/k HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        `1400\r\n${'x'.repeat(0x1400)}\r\n0\r\n\r\n`,
    )
    expectJsonError(chunked, 413, 'PAYLOAD_TOO_LARGE')
    // Within the cap of /write, the body passes (the stand-in replica answers it).
    const accepted = await fetch(`${base}/write`, { method: 'POST', body: 'x'.repeat(8192) })
    expect(accepted.status).toBe(200)
    expect(seen.filter((line) => line.startsWith('POST /health'))).toEqual([])
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
        request: `GET /read/${'k'.repeat(9000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
        status: 414,
        code: 'URI_TOO_LONG',
      },
      {
        request: `GET /read/k HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'h'.repeat(9000)}\r\n\r\n`,
        status: 431,
        code: 'REQUEST_HEADER_TOO_LARGE',
      },
    ]
    for (const { request, status, code } of cases) expectJsonError(await raw(request), status, code)
  })

  it('501 for a Transfer-Encoding nginx cannot frame, 505 for HTTP/2 on the plain port', async () => {
    const before = seen.length
    const cases = [
      {
        request:
          'POST /write HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n',
        status: 501,
        code: 'NOT_IMPLEMENTED',
      },
      {
        request: 'GET /health HTTP/2.0\r\nHost: localhost\r\n\r\n',
        status: 505,
        code: 'HTTP_VERSION_NOT_SUPPORTED',
      },
    ]
    for (const { request, status, code } of cases) expectJsonError(await raw(request), status, code)
    expect(seen.length).toBe(before)
  })
})

/**
 * DNS rebinding: a web page whose name has come to resolve to 127.0.0.1 sends requests here that
 * its browser treats as same-origin. They carry the page's own name in Host, so nginx serves only
 * this machine's names, and only on loopback.
 */
describe('the local nginx answers only this machine, by loopback and by name', () => {
  let nginx: NginxFixture
  const seen: string[] = []

  beforeAll(async () => {
    nginx = await startNginxFixture({
      upstream: (req, res) => {
        seen.push(`${req.method} ${req.url} host=${req.headers.host}`)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"alive"}')
      },
    })
  })
  afterAll(async () => {
    await nginx?.stop()
  })

  const get = (host: string | null, path = '/health', version = '1.1') =>
    rawRequest(
      nginx.port,
      `GET ${path} HTTP/${version}\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`,
    )

  it('serves localhost, 127.0.0.1 and [::1], with or without the port', async () => {
    const hosts = ['localhost', `localhost:${nginx.port}`, '127.0.0.1', `127.0.0.1:${nginx.port}`]
    hosts.push('[::1]', `[::1]:${nginx.port}`, 'LOCALHOST')
    for (const host of hosts) expect((await get(host)).status, host).toBe(200)
    // fetch sends `Host: 127.0.0.1:<port>`.
    expect((await fetch(`${nginx.url}/read/k`)).status).toBe(200)
  })

  it('refuses any other Host with a JSON 421 that no replica sees', async () => {
    const before = seen.length
    const hosts = ['evil.example', `evil.example:${nginx.port}`, 'localhost.evil.example']
    hosts.push('127.0.0.1.nip.io', '10.0.0.1', '0.0.0.0')
    for (const host of hosts) expectJsonError(await get(host), 421, 'MISDIRECTED_REQUEST')
    // The host of an absolute URI wins over the Host header, as the RFC says and nginx does.
    const absolute = await rawRequest(
      nginx.port,
      'GET http://evil.example/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    )
    expect(absolute.status).toBe(421)
    // An HTTP/1.0 request without a Host cannot be told from a rebinding one: refused too.
    expect((await get(null, '/health', '1.0')).status).toBe(421)
    expect(seen.length).toBe(before)
  })

  it('answers HTTP/0.9 (a body without status line or headers) with the JSON refusal, never a replica', async () => {
    const before = seen.length
    const answer = await rawRequest(nginx.port, 'GET /health\r\n')
    // HTTP/0.9 has no status line and no headers: nginx can only send a body, and it is JSON.
    expect(answer.status).toBeNaN()
    expect(JSON.parse(answer.body)).toMatchObject({
      success: false,
      error: { code: 'MISDIRECTED_REQUEST' },
    })
    expect(seen.length).toBe(before)
  })

  it('listens on 127.0.0.1 only', () => {
    const conf = readFileSync(nginx.confFile, 'utf8')
    expect(conf.match(/^\s*listen\s+([^;]*);/gm)?.map((line) => line.trim())).toEqual([
      `listen 127.0.0.1:${nginx.port} default_server sndbuf=64k;`,
      `listen 127.0.0.1:${nginx.port};`,
    ])
    // What the kernel says: every listening socket on nginx's port is bound to 127.0.0.1.
    const sockets = execFileSync('ss', ['-ltnH', `sport = :${nginx.port}`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[3])
    expect(sockets.length).toBeGreaterThan(0)
    expect(new Set(sockets)).toEqual(new Set([`127.0.0.1:${nginx.port}`]))
  })
})

/** A raw answer is nginx's JSON error with this status and code. */
function expectJsonError(answer: RawAnswer, status: number, code: string): void {
  expect(answer.status, code).toBe(status)
  expect(answer.headers.toLowerCase()).toContain('content-type: application/json')
  expect(JSON.parse(answer.body)).toMatchObject({ success: false, error: { code } })
}
