import { connect, createServer, type Server, type Socket } from 'node:net'

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Where connections are forwarded, e.g. Redis. */
  target: { host: string; port: number }
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number
}

/** A direction of a proxied connection: towards the server, or back to the client. */
export type ProxyDirection = 'to-server' | 'to-client'

/**
 * A PostgreSQL `COMMIT` statement (`COMMIT`, `COMMIT AND CHAIN`) in a client's bytes, for
 * {@link TcpProxy.cutAfterClientMatch}. The word alone: `pg_xact_commit_timestamp` in the
 * consistency SLI's check query, or a key such as `cut-before-commit` in a write, is not one (a
 * plain /commit/i cut the SLI's check instead of a write's COMMIT).
 */
export const COMMIT_STATEMENT = /(?<![\w-])commit(?![\w-])/i

/**
 * One direction of one connection: bytes are released in order, each no earlier than its
 * arrival plus the proxy's delay, and not at all while the proxy is stalled.
 */
class Lane {
  readonly #to: Socket
  readonly #proxy: TcpProxy
  readonly #direction: ProxyDirection
  readonly #queue: Array<{ chunk: Buffer; releaseAt: number }> = []
  #timer: NodeJS.Timeout | undefined
  #ending = false

  constructor(to: Socket, proxy: TcpProxy, direction: ProxyDirection) {
    this.#to = to
    this.#proxy = proxy
    this.#direction = direction
  }

  push(chunk: Buffer): void {
    const delay = this.#proxy.delays[this.#direction]
    if (delay === 0 && !this.#proxy.stalled && this.#queue.length === 0) {
      this.#to.write(chunk)
      return
    }
    const last = this.#queue.at(-1)?.releaseAt ?? 0
    // Never before an earlier chunk: lowering the delay must not reorder the stream.
    this.#queue.push({ chunk, releaseAt: Math.max(performance.now() + delay, last) })
    this.pump()
  }

  /** The source ended: end the destination once everything queued has gone out. */
  end(): void {
    this.#ending = true
    this.pump()
  }

  /** Releases what is due and waits for the next chunk's time. */
  pump(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#proxy.stalled) return
    const now = performance.now()
    while (this.#queue.length > 0 && (this.#queue[0]?.releaseAt ?? 0) <= now) {
      this.#to.write(this.#queue.shift()?.chunk as Buffer)
    }
    const next = this.#queue[0]
    if (next) this.#timer = setTimeout(() => this.pump(), Math.max(1, next.releaseAt - now))
    else if (this.#ending) this.#to.end()
  }

  drop(): void {
    clearTimeout(this.#timer)
    this.#queue.length = 0
  }
}

/**
 * A TCP proxy that injects network faults between clients and a server: a delay added to every
 * chunk in both directions, and stalls that hold every byte (connections stay open, as in a
 * silent network partition) until resumed, and a cut right after a matching client message
 * (the server acts on it; its reply is lost).
 *
 * @example
 * const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: 6379 } })
 * proxy.setDelay(50)  // 50 ms each way: +100 ms per round trip
 * proxy.stall()       // nothing passes; nobody is told
 * proxy.resume()
 * await proxy.close()
 */
export class TcpProxy {
  readonly #server: Server
  readonly #target: { host: string; port: number }
  readonly #lanes = new Set<Lane>()
  readonly #sockets = new Set<Socket>()
  readonly #clients = new Set<Socket>()
  readonly #delays: Record<ProxyDirection, number> = { 'to-server': 0, 'to-client': 0 }
  #stalled = false
  /** Armed {@link TcpProxy.cutAfterClientMatch} triggers, oldest first; each fires once. */
  readonly #cuts: Array<{ pattern: RegExp; done: () => void }> = []

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server
    this.#target = target
    server.on('connection', (client) => this.#accept(client))
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const server = createServer({ noDelay: true })
    const proxy = new TcpProxy(server, options.target)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    return proxy
  }

  /** The port clients connect to. */
  get port(): number {
    const address = this.#server.address()
    return typeof address === 'object' && address ? address.port : 0
  }

  /** The delay added to each direction, in milliseconds. */
  get delays(): Readonly<Record<ProxyDirection, number>> {
    return this.#delays
  }

  /** True while every byte is held. */
  get stalled(): boolean {
    return this.#stalled
  }

  /** Client connections open now. */
  get connections(): number {
    return this.#clients.size
  }

  /**
   * Adds `ms` milliseconds to every chunk, each way (so a round trip gains twice that), or in
   * one `direction` only, leaving the other as it was.
   * @example proxy.setDelay(300, 'to-client') // replies late; requests reach the server at once
   */
  setDelay(ms: number, direction?: ProxyDirection): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be ≥ 0 ms (got ${ms})`)
    if (direction !== 'to-client') this.#delays['to-server'] = ms
    if (direction !== 'to-server') this.#delays['to-client'] = ms
  }

  /** Holds every byte in both directions, on open and new connections, until `resume()`. */
  stall(): void {
    this.#stalled = true
  }

  /** Lets the held bytes through, in order, and ends the stall. */
  resume(): void {
    this.#stalled = false
    for (const lane of this.#lanes) lane.pump()
  }

  /**
   * Arms a one-shot fault: the next client→server chunk (on any connection, open or new) whose
   * text matches `pattern` is forwarded to the server, and then that connection is cut before
   * any byte of the server's reply reaches the client. The client sees its connection closed;
   * the server receives the chunk followed by an orderly close, so it acts on it (a PostgreSQL
   * `COMMIT` commits) without anyone hearing the result: a lost reply.
   *
   * Chunks are matched as they arrive, as latin1 text (a message split across two chunks is
   * not matched). Resolves once a connection has been cut this way; never, if nothing matches.
   *
   * @example
   * const cut = proxy.cutAfterClientMatch(COMMIT_STATEMENT)
   * const response = await api.request('/write', …) // commits; the reply is lost
   * await cut
   */
  cutAfterClientMatch(pattern: RegExp): Promise<void> {
    // A stateful (g/y) regex would remember where it last matched between chunks.
    const stateless = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
    return new Promise((resolve) => this.#cuts.push({ pattern: stateless, done: resolve }))
  }

  /** Stops listening and closes every connection at once. */
  async close(): Promise<void> {
    for (const lane of this.#lanes) lane.drop()
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #accept(client: Socket): void {
    const upstream = connect({ ...this.#target, noDelay: true })
    const toServer = new Lane(upstream, this, 'to-server')
    const toClient = new Lane(client, this, 'to-client')
    for (const lane of [toServer, toClient]) this.#lanes.add(lane)
    for (const socket of [client, upstream]) this.#sockets.add(socket)
    this.#clients.add(client)
    // A reset or a refused upstream connection resets the other side too, as it would without us.
    const reset = () => {
      for (const lane of [toServer, toClient]) lane.drop()
      client.destroy()
      upstream.destroy()
    }
    const forget = (socket: Socket) => {
      this.#sockets.delete(socket)
      this.#clients.delete(socket)
      if (client.destroyed && upstream.destroyed) {
        this.#lanes.delete(toServer)
        this.#lanes.delete(toClient)
      }
    }
    let cut = false
    client.on('data', (chunk: Buffer) => {
      if (cut) return
      const trigger = this.#takeCut(chunk)
      toServer.push(chunk)
      if (!trigger) return
      // The server gets the chunk and then a FIN (after anything still queued for it); the
      // client gets nothing more from the server, only the reset.
      cut = true
      toClient.drop()
      toServer.end()
      client.destroy()
      trigger()
    })
    upstream.on('data', (chunk: Buffer) => {
      if (!cut) toClient.push(chunk)
    })
    client.on('error', reset)
    upstream.on('error', reset)
    // A side that closes ends the other once what is queued for it has gone through (a stall
    // holds the close too: in a partition, a FIN does not get through either).
    client.on('close', () => {
      toServer.end()
      forget(client)
    })
    upstream.on('close', () => {
      toClient.end()
      forget(upstream)
    })
  }

  /** The first armed cut whose pattern matches `chunk`, disarmed; undefined when none does. */
  #takeCut(chunk: Buffer): (() => void) | undefined {
    if (this.#cuts.length === 0) return undefined
    const text = chunk.toString('latin1')
    const index = this.#cuts.findIndex(({ pattern }) => pattern.test(text))
    if (index < 0) return undefined
    return this.#cuts.splice(index, 1)[0]?.done
  }
}

/** Starts a {@link TcpProxy}. */
export const startTcpProxy = (options: TcpProxyOptions): Promise<TcpProxy> =>
  TcpProxy.start(options)
