import { createConnection, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { mustWrite, readKey, startTestStack, type TestStack } from '@strata/stack/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** Small limits so a test can cross them, and short client timeouts so it need not wait long. */
const LIMITS = {
  rateLimit: true,
  writeRate: 2,
  writeBurst: 5,
  adminRate: 1,
  adminBurst: 1,
  clientHeaderTimeout: 2,
  clientBodyTimeout: 2,
}

describe('nginx in front of the replicas: rate limits, body cap, slow clients', () => {
  let stack: TestStack

  beforeAll(async () => {
    stack = await startTestStack({ nginx: LIMITS })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${stack.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })

  it('answers a burst of writes past the limit with JSON 429 and Retry-After, and leaves reads alone', async () => {
    // Written straight to a replica: the write budget of this client stays untouched.
    await mustWrite(stack.replicaUrl(1), 'limited', 'v')
    const started = performance.now()
    const writes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => post('/write', { key: 'limited', value: `v${i}` })),
    )
    const elapsedS = (performance.now() - started) / 1000
    const reads = await Promise.all(Array.from({ length: 40 }, () => readKey(stack.url, 'limited')))

    const accepted = writes.filter((r) => r.status === 200).length
    const limited = writes.filter((r) => r.status === 429)
    expect(accepted + limited.length).toBe(30)
    // The burst (5) plus the one the rate allows at once, plus what 2/s added while they ran.
    expect(accepted).toBeGreaterThanOrEqual(1)
    expect(accepted).toBeLessThanOrEqual(6 + Math.ceil(elapsedS * LIMITS.writeRate) + 1)
    expect(limited.length).toBeGreaterThanOrEqual(10)
    const refused = limited[0] as Response
    expect(refused.headers.get('content-type')).toBe('application/json')
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(refused.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/)
    // Answered by nginx: no replica saw it.
    expect(refused.headers.get('x-replica-id')).toBeNull()
    expect(await refused.json()).toMatchObject({
      success: false,
      error: { code: 'RATE_LIMITED' },
    })

    expect(reads.map((r) => r.status)).toEqual(reads.map(() => 200))
    // /delete draws on the same budget, which the burst above spent.
    const deletes = await Promise.all(
      Array.from({ length: 10 }, () => post('/delete', { key: 'limited' })),
    )
    expect(deletes.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(5)
  })

  it('limits /clear-cache per client, with Retry-After set to when the next call is allowed', async () => {
    const statuses: number[] = []
    let refused: Response | undefined
    for (let i = 0; i < 5; i++) {
      const response = await post('/clear-cache', {}, { authorization: 'Bearer not-the-token-000' })
      statuses.push(response.status)
      if (response.status === 429) refused ??= response
    }
    // The first calls reach a replica (403: this stack has no ADMIN_TOKEN); the rest stop at nginx.
    expect(statuses.slice(0, 2)).toEqual([403, 403])
    expect(statuses.slice(2)).toEqual([429, 429, 429])
    // 1 per minute: the next slot is 60 s away.
    expect(refused?.headers.get('retry-after')).toBe('60')
    expect(await refused?.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } })
  })

  it("refuses a body over the cap with nginx's own JSON 413, before any replica sees it", async () => {
    const response = await post('/write', { key: 'big', value: 'x'.repeat(1_200_000) })
    expect(response.status).toBe(413)
    expect(response.headers.get('x-replica-id')).toBeNull()
    expect(await response.json()).toMatchObject({
      success: false,
      error: { code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('1088 KiB') },
    })
  })

  it('disconnects a client that trickles its request header, within the header timeout', async () => {
    const port = Number(new URL(stack.url).port)
    const socket = createConnection({ host: '127.0.0.1', port })
    const startedAt = performance.now()
    const closed = closeOf(socket)
    // One byte every 200 ms: always active, never done. The timeout counts the whole header.
    const header = `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ${'z'.repeat(200)}`
    let sent = 0
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent < header.length) socket.write(header[sent++] as string)
    }, 200)
    const { response } = await closed
    clearInterval(trickle)
    const seconds = (performance.now() - startedAt) / 1000
    // 2 s configured: not before it (the trickle kept it busy), and far below the 10 s default.
    expect(seconds).toBeGreaterThan(1.5)
    expect(seconds).toBeLessThan(7)
    expect(sent).toBeLessThan(header.length)
    expect(response).not.toContain('200 OK')
  })

  it('disconnects a client that stops sending its body, within the body timeout', async () => {
    const port = Number(new URL(stack.url).port)
    const socket = createConnection({ host: '127.0.0.1', port })
    const startedAt = performance.now()
    const closed = closeOf(socket)
    socket.write(
      'POST /write HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
        'Content-Length: 1000\r\n\r\n{"key":"slow","value":"',
    )
    const { response } = await closed
    const seconds = (performance.now() - startedAt) / 1000
    expect(seconds).toBeGreaterThan(1.5)
    expect(seconds).toBeLessThan(7)
    expect(response).not.toContain('200 OK')
    // Nothing was written.
    expect((await readKey(stack.replicaUrl(1), 'slow')).status).toBe(404)
  })
})

/** Resolves when the server closes the connection, with whatever it sent before. */
function closeOf(socket: Socket): Promise<{ response: string }> {
  return new Promise((resolve) => {
    let response = ''
    socket.on('data', (chunk) => {
      response += chunk.toString()
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve({ response }))
  })
}
