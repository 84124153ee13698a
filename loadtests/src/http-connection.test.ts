import { createServer, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { HttpConnection, NetworkError } from './http-connection.js'

let server: Server | undefined
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = undefined
})

/** A TCP server that answers each request with the next canned bytes (split as given). */
async function cannedServer(
  responses: Array<string | string[]>,
  onRequest?: (raw: string) => void,
): Promise<URL> {
  let i = 0
  server = createServer((socket) => {
    socket.on('data', (data) => {
      onRequest?.(data.toString())
      const response = responses[i++]
      if (response === undefined) return
      const parts = Array.isArray(response) ? response : [response]
      let delay = 0
      for (const part of parts) {
        setTimeout(() => {
          if (part === '<close>') socket.destroy()
          else socket.write(part)
        }, delay)
        delay += 5
      }
    })
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('no address')
  return new URL(`http://127.0.0.1:${address.port}`)
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Cache-Level: L1\r\nx-replica-id: replica-2\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

describe('HttpConnection', () => {
  it('reads the status, the Strata headers and a Content-Length body, keeping the connection', async () => {
    const requests: string[] = []
    const url = await cannedServer([ok('{"a":1}'), ok('{"b":2}')], (raw) => requests.push(raw))
    const c = new HttpConnection(url)
    const first = await c.request('GET', '/read/k', undefined, { timeoutMs: 1000, keepBody: true })
    expect(first).toEqual({
      status: 200,
      cacheLevel: 'L1',
      replicaId: 'replica-2',
      body: '{"a":1}',
    })
    const second = await c.request('POST', '/write', '{"key":"k","value":"é"}', {
      timeoutMs: 1000,
      keepBody: true,
    })
    expect(second.body).toBe('{"b":2}')
    expect(requests[1]).toContain('Content-Length: 24\r\n')
    expect(requests[1]).toContain('Content-Type: application/json\r\n')
    c.close()
  })

  it('reassembles a response split across packets, and chunked bodies', async () => {
    const chunked =
      'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab\r\n\r\n3\r\ncde\r\n0\r\n\r\n'
    const url = await cannedServer([
      ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 5\r\n\r\nhel', 'lo'],
      [chunked.slice(0, 60), chunked.slice(60)],
    ])
    const c = new HttpConnection(url)
    expect((await c.request('GET', '/', undefined, { timeoutMs: 1000, keepBody: true })).body).toBe(
      'hello',
    )
    const notFound = await c.request('GET', '/', undefined, { timeoutMs: 1000, keepBody: true })
    expect(notFound.status).toBe(404)
    expect(notFound.body).toBe('ab\r\ncde')
    c.close()
  })

  it('reconnects after Connection: close', async () => {
    const url = await cannedServer([ok('1', 'Connection: close\r\n'), ok('2')])
    let connections = 0
    server?.on('connection', () => connections++)
    const c = new HttpConnection(url)
    await c.request('GET', '/', undefined, { timeoutMs: 1000 })
    // The canned server counts requests across connections, so the second answer comes on a new one.
    await c.request('GET', '/', undefined, { timeoutMs: 1000 })
    expect(connections).toBe(2)
    c.close()
  })

  it('fails with NetworkError when the server closes mid-response, times out, or refuses', async () => {
    const url = await cannedServer([
      ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', '<close>'],
      [],
    ])
    const c = new HttpConnection(url)
    await expect(c.request('GET', '/', undefined, { timeoutMs: 1000 })).rejects.toMatchObject({
      reason: 'closed',
    })
    const pending = c.request('GET', '/', undefined, { timeoutMs: 20 })
    await new Promise((resolve) => setTimeout(resolve, 40))
    c.checkDeadline(performance.now())
    await expect(pending).rejects.toMatchObject({ reason: 'timeout' })
    c.close()
    const refused = new HttpConnection(new URL('http://127.0.0.1:1'))
    await expect(
      refused.request('GET', '/', undefined, { timeoutMs: 1000 }),
    ).rejects.toBeInstanceOf(NetworkError)
  })
})
