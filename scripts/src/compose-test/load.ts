import { Agent, request } from 'node:http'
import { http, sleep } from './report.js'

/** One answer, or the lack of one. */
export interface Sample {
  method: 'GET' | 'POST'
  /** The key a POST wrote. */
  key?: string | undefined
  /** HTTP status; 0 when there was no answer. */
  status: number
  /** Error code when there was no answer (ECONNRESET, timeout, ...). */
  code?: string | undefined
  replica?: string | undefined
  /** Start, in milliseconds since the load began. */
  at: number
}

/** Options of {@link Load}. */
export interface LoadOptions {
  /** nginx's URL, e.g. `http://127.0.0.1:18005`. */
  baseUrl: string
  /** Keys read and written; all must exist before the load starts. */
  keys: readonly string[]
  /** Reads per second, sent at a steady pace by `readers` workers. */
  readRate: number
  /** Writes per second (0: a read-only load). */
  writeRate: number
  /** Concurrent readers. @default 4 */
  readers?: number
}

/** What a load saw. */
export interface LoadReport {
  requests: number
  gets: number
  posts: number
  /** Every request that got no answer or an answer other than 200. */
  failed: Sample[]
  /** When each replica first answered, in milliseconds since the load began. */
  firstSeen: Map<string, number>
  /** When each replica last answered. */
  lastSeen: Map<string, number>
  /** Writes answered 200, by key. */
  acknowledged: Map<string, number>
}

/**
 * A steady reader and writer against nginx that counts every failed request and notes when each
 * replica answered first and last: "0 failed requests" and "a new replica takes traffic" are
 * read from it. Keep-alive connections, as a real client would hold them.
 */
export class Load {
  readonly #options: LoadOptions
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 16, timeout: 4_000 })
  readonly #samples: Sample[] = []
  readonly #firstSeen = new Map<string, number>()
  readonly #lastSeen = new Map<string, number>()
  readonly #started = performance.now()
  readonly #startedWall = Date.now()
  #running = true
  #workers: Promise<void>[] = []
  #sequence = 0

  constructor(options: LoadOptions) {
    this.#options = options
    const readers = options.readers ?? 4
    for (let i = 0; i < readers; i++)
      this.#workers.push(this.#loop(options.readRate / readers, () => this.#read()))
    if (options.writeRate > 0)
      this.#workers.push(this.#loop(options.writeRate, () => this.#write()))
  }

  /** Wall-clock time (Date.now scale) of `at`, milliseconds since the load began. */
  wallClock(at: number): number {
    return this.#startedWall + at
  }

  /** Milliseconds since the load began. */
  now(): number {
    return performance.now() - this.#started
  }

  /** Stops sending, waits for requests in flight, and reports. */
  async stop(): Promise<LoadReport> {
    this.#running = false
    await Promise.all(this.#workers)
    this.#agent.destroy()
    return {
      requests: this.#samples.length,
      gets: this.#samples.filter((s) => s.method === 'GET').length,
      posts: this.#samples.filter((s) => s.method === 'POST').length,
      failed: this.#samples.filter((s) => s.status !== 200),
      acknowledged: countBy(
        this.#samples.filter((s) => s.method === 'POST' && s.status === 200),
        (s) => s.key ?? '',
      ),
      firstSeen: this.#firstSeen,
      lastSeen: this.#lastSeen,
    }
  }

  async #loop(rate: number, send: () => Promise<void>): Promise<void> {
    const interval = 1000 / rate
    let next = performance.now()
    while (this.#running) {
      await send()
      next += interval
      const wait = next - performance.now()
      if (wait > 0) await sleep(wait)
      else next = performance.now()
    }
  }

  #key(): string {
    const { keys } = this.#options
    return keys[this.#sequence++ % keys.length] as string
  }

  #read(): Promise<void> {
    return this.#send('GET', `/read/${encodeURIComponent(this.#key())}`)
  }

  #write(): Promise<void> {
    const key = this.#key()
    return this.#send('POST', '/write', JSON.stringify({ key, value: `v${this.#sequence}` }), key)
  }

  #send(method: 'GET' | 'POST', path: string, body?: string, key?: string): Promise<void> {
    const at = this.now()
    const url = new URL(this.#options.baseUrl)
    return new Promise((resolve) => {
      const done = (sample: Omit<Sample, 'method' | 'key' | 'at'>) => {
        this.#samples.push({ method, key, at, ...sample })
        if (sample.replica) {
          if (!this.#firstSeen.has(sample.replica)) this.#firstSeen.set(sample.replica, at)
          this.#lastSeen.set(sample.replica, at)
        }
        resolve()
      }
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent: this.#agent,
          timeout: 10_000,
          headers: body
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : {},
        },
        (res) => {
          res.resume()
          res.on('end', () => {
            const replica = res.headers['x-replica-id']
            done({
              status: res.statusCode ?? 0,
              replica: typeof replica === 'string' ? replica : undefined,
            })
          })
          res.on('error', () => done({ status: 0, code: 'aborted' }))
        },
      )
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })))
      req.on('error', (error: NodeJS.ErrnoException) => done({ status: 0, code: error.code }))
      req.end(body)
    })
  }
}

/** "3 failed of 1200 (GET 503 ×2, POST ECONNRESET ×1)": a one-line account of the failures. */
export function describeFailures(report: LoadReport): string {
  const counts = new Map<string, number>()
  for (const s of report.failed) {
    const what = `${s.method} ${s.status || s.code}`
    counts.set(what, (counts.get(what) ?? 0) + 1)
  }
  const detail = [...counts].map(([what, n]) => `${what} ×${n}`).join(', ')
  return `${report.failed.length} failed of ${report.requests}${detail ? ` (${detail})` : ''}`
}

function countBy<T>(items: readonly T[], by: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(by(item), (counts.get(by(item)) ?? 0) + 1)
  return counts
}

/** Each key's current version, read through nginx (0 for a key that is not there). */
export async function versionsOf(
  base: string,
  keys: readonly string[],
): Promise<Map<string, number>> {
  const versions = new Map<string, number>()
  for (const key of keys) {
    const answer = await http(base, 'GET', `/read/${encodeURIComponent(key)}`)
    versions.set(key, answer.status === 200 ? Number(answer.json.version) : 0)
  }
  return versions
}

/**
 * Keys whose version moved by other than their acknowledged writes between `before` and `after`:
 * a write that failed was applied all the same, or an acknowledged one was lost. Every write of
 * the load bumps its key's version by one, and nothing else writes these keys meanwhile.
 */
export function writesUnaccounted(
  report: LoadReport,
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): string[] {
  return [...after]
    .filter(
      ([key, version]) => version - (before.get(key) ?? 0) !== (report.acknowledged.get(key) ?? 0),
    )
    .map(([key]) => key)
}
