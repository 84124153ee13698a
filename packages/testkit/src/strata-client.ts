import { Agent, request } from 'node:http'
import type { History, ReadAnswer, ReadOp, WriteOp } from './history.js'

/** Options of {@link StrataClient}. */
export interface StrataClientOptions {
  /** nginx's URL, or one replica's, e.g. `http://127.0.0.1:8005`. */
  baseUrl: string
  /** Where every request is recorded. */
  history: History
  /**
   * Longest wait for a whole answer, in milliseconds; then the request fails with code `timeout`
   * (a write's outcome is then unknown).
   * @default 10_000
   */
  timeoutMs?: number
  /**
   * Most connections kept open to the target; requests beyond it wait for a free one.
   * @default 64
   */
  maxSockets?: number
}

interface RawAnswer {
  status: number
  body: string
  replica: string | undefined
  cacheLevel: string | undefined
}

/** Why a request got no HTTP answer: the client's own code for it. */
class NoAnswer extends Error {
  constructor(readonly code: string) {
    super(code)
  }
}

const header = (value: string | string[] | undefined) =>
  typeof value === 'string' ? value : undefined

/**
 * An HTTP client for Strata's `/write` and `/read/{key}` that records every request, with its
 * outcome, into a {@link History}. It never throws for an HTTP or network failure: those are
 * recorded (status 0 and a code such as `ECONNREFUSED` or `timeout` when there was no answer).
 *
 * @example
 * const client = new StrataClient({ baseUrl: cluster.url, history })
 * await client.write('user:1', 'Ada')
 * await client.read('user:1')
 * client.close()
 */
export class StrataClient {
  readonly #base: URL
  readonly #history: History
  readonly #timeoutMs: number
  readonly #agent: Agent

  constructor(options: StrataClientOptions) {
    this.#base = new URL(options.baseUrl)
    if (this.#base.protocol !== 'http:')
      throw new Error(`StrataClient: baseUrl must be http:// (got ${options.baseUrl})`)
    this.#history = options.history
    this.#timeoutMs = options.timeoutMs ?? 10_000
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: options.maxSockets ?? 64,
      // Every kept connection stays in use, and an idle one is closed by us before a server's
      // keep-alive timeout (Node: 5 s) can close it under a request we are sending: that race
      // would be recorded as a failed request the server never saw.
      scheduling: 'fifo',
      timeout: 4_000,
    })
  }

  /** `POST /write {key, value}`, recorded. */
  async write(key: string, value: string): Promise<WriteOp> {
    const op = this.#history.beginWrite(key)
    const answer = await this.#send('POST', '/write', JSON.stringify({ key, value }))
    return this.#history.completeWrite(op, answer)
  }

  /** `GET /read/{key}`, recorded. */
  async read(key: string): Promise<ReadOp> {
    const op = this.#history.beginRead(key)
    const answer = await this.#send('GET', `/read/${encodeURIComponent(key)}`, undefined)
    return this.#history.completeRead(op, answer)
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.#agent.destroy()
  }

  async #send(method: string, path: string, body: string | undefined): Promise<ReadAnswer> {
    let raw: RawAnswer
    try {
      raw = await this.#exchange(method, path, body)
    } catch (error) {
      return { status: 0, code: error instanceof NoAnswer ? error.code : 'error' }
    }
    let parsed: { version?: unknown; error?: { code?: unknown } } = {}
    try {
      parsed = JSON.parse(raw.body) as typeof parsed
    } catch {
      // A body that is not JSON (it should always be) leaves version and code unknown.
    }
    return {
      status: raw.status,
      version: typeof parsed.version === 'number' ? parsed.version : undefined,
      code: typeof parsed.error?.code === 'string' ? parsed.error.code : undefined,
      replica: raw.replica,
      cacheLevel: raw.cacheLevel,
    }
  }

  #exchange(method: string, path: string, body: string | undefined): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.#base.hostname,
          port: this.#base.port || 80,
          method,
          path,
          agent: this.#agent,
          headers:
            body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('error', () => reject(new NoAnswer('aborted')))
          res.on('end', () => {
            clearTimeout(timer)
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              replica: header(res.headers['x-replica-id']),
              cacheLevel: header(res.headers['x-cache-level']),
            })
          })
        },
      )
      const timer = setTimeout(() => req.destroy(new NoAnswer('timeout')), this.#timeoutMs)
      req.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        reject(error instanceof NoAnswer ? error : new NoAnswer(error.code ?? 'error'))
      })
      req.end(body)
    })
  }
}
