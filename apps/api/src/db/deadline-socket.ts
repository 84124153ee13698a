import { connect, type Socket } from 'node:net'

/** PostgreSQL did not answer a round trip in time; the connection was destroyed. */
export class DatabaseTimeoutError extends Error {
  static readonly code = 'E_DATABASE_TIMEOUT'
  readonly code = DatabaseTimeoutError.code

  constructor(ms: number) {
    super(`PostgreSQL did not answer within ${ms} ms; the connection was closed`)
    this.name = 'DatabaseTimeoutError'
  }
}

// First (untyped) client messages: their int32 code says what they are.
const CANCEL_REQUEST = 80_877_102
const SSL_REQUEST = 80_877_103
const GSSENC_REQUEST = 80_877_104

const byte = (c: string) => c.charCodeAt(0)
// Client messages that get an answer: a simple Query and a Sync end with ReadyForQuery ('Z');
// a Flush (postgres.js sends Parse/Describe + Flush to learn parameter types) ends with the
// statement's RowDescription ('T'), NoData ('n') or an ErrorResponse ('E').
const QUERY = byte('Q')
const SYNC = byte('S')
const FLUSH = byte('H')
const READY = byte('Z')
const DESCRIBED = new Set([byte('T'), byte('n'), byte('E')])

/**
 * Splits a stream of PostgreSQL protocol messages (a type byte and an int32 length that counts
 * itself) and reports each message's type as its header arrives. The client's first message has
 * no type byte (StartupMessage, SSLRequest, CancelRequest): its 8-byte header is reported with
 * type -1 and its code.
 */
class MessageScanner {
  readonly #header = Buffer.alloc(8)
  #have = 0
  #skip = 0
  #untyped: boolean
  readonly #onMessage: (type: number, code: number) => void

  constructor(untypedFirst: boolean, onMessage: (type: number, code: number) => void) {
    this.#untyped = untypedFirst
    this.#onMessage = onMessage
  }

  push(chunk: Uint8Array): void {
    let at = 0
    while (at < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - at)
        this.#skip -= n
        at += n
        continue
      }
      const size = this.#untyped ? 8 : 5
      const n = Math.min(size - this.#have, chunk.length - at)
      this.#header.set(chunk.subarray(at, at + n), this.#have)
      this.#have += n
      at += n
      if (this.#have < size) return
      this.#have = 0
      if (this.#untyped) {
        this.#untyped = false
        this.#skip = this.#header.readInt32BE(0) - 8
        this.#onMessage(-1, this.#header.readInt32BE(4))
      } else {
        this.#skip = this.#header.readInt32BE(1) - 4
        this.#onMessage(this.#header[0] ?? 0, 0)
      }
    }
  }
}

/**
 * Watches one connection to PostgreSQL: each request that expects an answer (the startup, a
 * query, a Sync, a Flush) must get it within `ms` of becoming the oldest unanswered one,
 * otherwise the socket is destroyed with a {@link DatabaseTimeoutError}. postgres.js then fails
 * every query on it and never sends anything on it again, so a transaction whose COMMIT was
 * not yet written can never commit after PostgreSQL wakes up; the next query opens a new socket.
 */
function watch(socket: Socket, ms: number): void {
  // What each unanswered request waits for, oldest first.
  const waiting: Array<'ready' | 'described'> = []
  let timer: NodeJS.Timeout | undefined
  let watching = true
  const arm = () => {
    clearTimeout(timer)
    timer =
      waiting.length > 0
        ? setTimeout(() => socket.destroy(new DatabaseTimeoutError(ms)), ms).unref()
        : undefined
  }
  const expect = (what: 'ready' | 'described') => {
    waiting.push(what)
    if (waiting.length === 1) arm()
  }
  const answered = () => {
    waiting.shift()
    arm()
  }
  const sent = new MessageScanner(true, (type, code) => {
    if (type === -1) {
      // TLS or GSS encryption follows: the bytes are no longer readable here, so the deadline
      // is left to PostgreSQL's statement_timeout. A CancelRequest gets no answer.
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        watching = false
        waiting.length = 0
        arm()
      } else if (code !== CANCEL_REQUEST) expect('ready')
    } else if (type === QUERY || type === SYNC) expect('ready')
    else if (type === FLUSH) expect('described')
  })
  const received = new MessageScanner(false, (type) => {
    const head = waiting[0]
    if (type === READY && head !== undefined) answered()
    else if (head === 'described' && DESCRIBED.has(type)) answered()
  })
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (watching && chunk instanceof Uint8Array) sent.push(chunk)
    return write(chunk, ...rest)
  }) as Socket['write']
  socket.on('data', (chunk: Buffer) => {
    if (watching) received.push(chunk)
  })
  socket.once('close', () => {
    watching = false
    clearTimeout(timer)
  })
}

/** The part of postgres.js's parsed options a socket factory is given. */
export interface SocketTarget {
  host: string[]
  port: number[]
  path?: string | false
}

/**
 * A `socket` factory for postgres.js: it connects like postgres.js would (Unix socket path, or
 * the hosts in turn) and puts every round trip under a deadline of `ms` milliseconds.
 *
 * postgres.js has no query timeout and does not expose its connections, so the deadline lives
 * in the transport, where a connection that hung can be destroyed rather than reused.
 */
export function deadlineSocket(ms: number): (target: SocketTarget) => Socket {
  let next = 0
  return (target) => {
    const index = next++ % Math.max(1, target.host.length)
    const socket = target.path
      ? connect({ path: target.path })
      : connect({ host: target.host[index] ?? 'localhost', port: target.port[index] ?? 5432 })
    watch(socket, ms)
    return socket
  }
}
