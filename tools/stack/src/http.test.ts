import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getJson, httpRequest, httpStatus } from './http.js'

let server: Server
let base: string
/** Answers held back by `/stall`, released at the end so the server can close. */
const stalled: ServerResponse[] = []
/** The `connection` header of every request, to see that no socket is kept. */
const connectionHeaders: Array<string | undefined> = []

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    connectionHeaders.push(req.headers.connection)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      if (req.url === '/stall') return void stalled.push(res)
      if (req.url === '/fail') return void res.writeHead(500).end('{}')
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          method: req.method,
          type: req.headers['content-type'],
          body: Buffer.concat(chunks).toString(),
        }),
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  for (const res of stalled) res.end()
  await new Promise((resolve) => server.close(resolve))
})

describe('httpRequest', () => {
  it('sends JSON and reads the whole answer, on a connection closed afterwards', async () => {
    const answer = await httpRequest(`${base}/echo`, { method: 'POST', json: { key: 'k' } })
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toEqual({
      method: 'POST',
      type: 'application/json',
      body: '{"key":"k"}',
    })
    expect(connectionHeaders.at(-1)).toBe('close')
  })

  it('gives up after its timeout', async () => {
    await expect(httpRequest(`${base}/stall`, { timeoutMs: 200 })).rejects.toThrow()
  })
})

describe('httpStatus and getJson', () => {
  it('httpStatus: the status, or undefined when nothing answers', async () => {
    expect(await httpStatus(`${base}/fail`)).toBe(500)
    // A port just closed: refused at once.
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    expect(await httpStatus(`http://127.0.0.1:${port}/health`)).toBeUndefined()
  })

  it('getJson: the document on a 200, an error naming the URL otherwise', async () => {
    expect(await getJson(`${base}/doc`)).toMatchObject({ method: 'GET' })
    await expect(getJson(`${base}/fail`)).rejects.toThrow(`GET ${base}/fail answered 500`)
  })
})
