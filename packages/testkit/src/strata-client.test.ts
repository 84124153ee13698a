import { createServer, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { History } from './history.js'
import { StrataClient } from './strata-client.js'

/** A TCP server that accepts connections and never answers: a replica gone silent. */
async function silentServer(): Promise<Server> {
  const server = createServer(() => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

const portOf = (server: Server) => {
  const address = server.address()
  return typeof address === 'object' && address ? address.port : 0
}

describe('StrataClient failures', () => {
  const cleanup: Array<() => void> = []
  afterEach(() => {
    for (const step of cleanup.splice(0)) step()
  })

  it('records a refused connection as a failed read and a write of unknown outcome', async () => {
    const server = await silentServer()
    const port = portOf(server)
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const history = new History()
    const client = new StrataClient({ baseUrl: `http://127.0.0.1:${port}`, history })
    cleanup.push(() => client.close())
    expect(await client.read('k')).toMatchObject({
      status: 0,
      outcome: 'failed',
      code: 'ECONNREFUSED',
    })
    expect(await client.write('k', 'v')).toMatchObject({
      status: 0,
      outcome: 'unknown',
      code: 'ECONNREFUSED',
    })
    expect(history.inFlight).toBe(0)
  })

  it('gives up after its timeout and records it', async () => {
    const server = await silentServer()
    cleanup.push(() => server.close())
    const history = new History()
    const client = new StrataClient({
      baseUrl: `http://127.0.0.1:${portOf(server)}`,
      history,
      timeoutMs: 200,
    })
    cleanup.push(() => client.close())
    const read = await client.read('k')
    expect(read).toMatchObject({ status: 0, outcome: 'failed', code: 'timeout' })
    expect(read.end - read.start).toBeGreaterThanOrEqual(199)
  })
})
