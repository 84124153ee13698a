import { connect, type Socket } from 'node:net'
import { type RedisServer, startRedisServer } from '@strata/test-servers'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { COMMIT_STATEMENT, startTcpProxy, type TcpProxy } from './tcp-proxy.js'

/** A raw RESP connection: what the proxy forwards is bytes, so the test speaks bytes too. */
class RawClient {
  readonly socket: Socket
  received = ''
  readonly #waiters: Array<() => void> = []

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port })
    this.socket.setEncoding('utf8')
    this.socket.on('data', (text: string) => {
      this.received += text
      for (const wake of this.#waiters.splice(0)) wake()
    })
  }

  send(text: string): void {
    this.socket.write(text)
  }

  /** Sends `text`, then resolves once `received` contains `reply`. */
  async ask(text: string, reply: string): Promise<void> {
    this.send(text)
    await this.until(reply)
  }

  /** Resolves once `received` contains `text`. */
  async until(text: string): Promise<void> {
    while (!this.received.includes(text)) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  /** Resolves when the server side has closed the connection. */
  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.closed) resolve()
      else this.socket.once('close', () => resolve())
    })
  }
}

describe('TcpProxy', () => {
  let redis: RedisServer
  let proxy: TcpProxy
  const clients: RawClient[] = []
  const open = () => {
    const client = new RawClient(proxy.port)
    clients.push(client)
    return client
  }
  /** Sends `text` and waits until the armed `cut` has fired and the connection is closed. */
  const sendIntoCut = async (client: RawClient, cut: Promise<void>, text: string) => {
    client.send(text)
    await cut
    await client.closed()
  }
  /** A client through the proxy whose first round trip is done: its connection is up. */
  const pinged = async () => {
    const client = open()
    await client.ask('PING\r\n', '+PONG')
    return client
  }

  beforeAll(async () => {
    redis = await startRedisServer()
  })
  afterAll(async () => {
    await redis.stop()
  })
  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.destroy()
    await proxy?.close()
  })

  const start = async () => {
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: redis.port } })
  }

  it('forwards both directions unchanged', async () => {
    await start()
    const client = open()
    await client.ask('PING\r\nECHO hello\r\n', '$5\r\nhello\r\n')
    expect(client.received).toBe('+PONG\r\n$5\r\nhello\r\n')
    expect(proxy.connections).toBe(1)
  })

  it('adds the delay to each direction', async () => {
    await start()
    const client = await pinged()
    proxy.setDelay(40)
    const started = performance.now()
    await client.ask('PING\r\n', '+PONG\r\n+PONG')
    // The proxy can never be early; how late it is depends on the machine, so no upper bound.
    expect(performance.now() - started).toBeGreaterThanOrEqual(80)
  })

  it('delays one direction only when asked: the server has the request long before the reply is back', async () => {
    await start()
    const client = await pinged()
    // Straight to Redis: its BLPOP answers the moment the proxied RPUSH has reached the server.
    const direct = new RawClient(redis.port)
    clients.push(direct)
    proxy.setDelay(1_000, 'to-client')
    expect(proxy.delays).toEqual({ 'to-server': 0, 'to-client': 1_000 })
    const started = performance.now()
    direct.send('BLPOP tcp-proxy:one-way 10\r\n')
    client.send('RPUSH tcp-proxy:one-way landed\r\n')
    const [serverAt, replyAt] = await Promise.all([
      direct.until('landed').then(() => performance.now() - started),
      client.until(':1\r\n').then(() => performance.now() - started),
    ])
    expect(replyAt).toBeGreaterThanOrEqual(1_000)
    // A loopback round trip takes a millisecond; half the delay is a margin for a loaded machine.
    expect(serverAt).toBeLessThan(500)
  })

  it('keeps the byte order when the delay is lowered mid-stream', async () => {
    await start()
    const client = open()
    proxy.setDelay(150)
    client.send('ECHO first\r\n')
    proxy.setDelay(0)
    await client.ask('ECHO second\r\n', 'second')
    expect(client.received).toBe('$5\r\nfirst\r\n$6\r\nsecond\r\n')
  })

  it('holds every byte, on open and new connections, until resumed', async () => {
    await start()
    const before = await pinged()
    proxy.stall()
    before.send('ECHO held\r\n')
    const during = open()
    during.send('PING\r\n')
    // Nothing may come back while stalled; 300 ms is ample for a loopback Redis to have answered.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(before.received).toBe('+PONG\r\n')
    expect(during.received).toBe('')
    proxy.resume()
    await before.until('held')
    await during.until('+PONG')
    expect(before.received).toBe('+PONG\r\n$4\r\nheld\r\n')
  })

  it('forwards a matching client chunk, then cuts the connection before the reply', async () => {
    await start()
    const client = await pinged()
    await sendIntoCut(client, proxy.cutAfterClientMatch(/set cut-key/i), 'SET cut-key applied\r\n')
    // The server executed the command, but its +OK never reached the client.
    expect(client.received).toBe('+PONG\r\n')
    const check = open()
    await check.ask('GET cut-key\r\n', 'applied\r\n')
  })

  it('cuts once per arming, on a connection opened after it was armed too', async () => {
    await start()
    const cut = proxy.cutAfterClientMatch(/ECHO once/)
    const first = open()
    await sendIntoCut(first, cut, 'ECHO once\r\n')
    expect(first.received).toBe('')
    const second = open()
    await second.ask('ECHO once\r\n', '$4\r\nonce\r\n')
  })

  it('closes the client side when the server goes away', async () => {
    await start()
    const client = await pinged()
    await redis.kill()
    try {
      await client.closed()
      await vi.waitFor(() => expect(proxy.connections).toBe(0))
    } finally {
      await redis.start()
    }
  })
})

describe('COMMIT_STATEMENT', () => {
  it('matches a COMMIT statement as postgres.js sends it, and nothing that merely contains the word', () => {
    for (const sent of ['P\0COMMIT AND CHAIN\0', 'Q\0\0\0\vCOMMIT\0', 'commit']) {
      expect(sent).toMatch(COMMIT_STATEMENT)
    }
    for (const sent of [
      'CASE WHEN t.tracked THEN pg_xact_commit_timestamp(r.xmin) END',
      "current_setting('track_commit_timestamp')",
      'INSERT INTO records VALUES ($1) -- cut-before-commit',
      'committed',
    ]) {
      expect(sent).not.toMatch(COMMIT_STATEMENT)
    }
  })
})
