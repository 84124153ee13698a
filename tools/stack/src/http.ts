import { type Agent, type IncomingHttpHeaders, request } from 'node:http'

/**
 * The small HTTP client of the tools: health probes, stats and metrics scrapes, test requests.
 * Not `fetch`: by default every request has a connection of its own, closed afterwards. fetch's
 * pooled keep-alive sockets outlive a stack, and the first request after a new stack takes the
 * same port can land on a socket the old one closed; a probe must not ride on a socket to a dead
 * process either. (The load generator keeps its own raw-socket client, which it measures with.)
 */

/** What a server answered. */
export interface HttpAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  /** @default 'GET' */
  method?: string
  /** Sent as `application/json` unless `headers` say otherwise. */
  json?: unknown
  headers?: Record<string, string>
  /** Longest wait for the whole answer, in milliseconds. @default 5_000 */
  timeoutMs?: number
  /** Connections to reuse (a keep-alive Agent), for many requests to one stack. @default none */
  agent?: Agent
}

/** Sends one request and reads the whole answer; rejects on a network error or the timeout. */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
  const body = options.json === undefined ? undefined : JSON.stringify(options.json)
  const headers: Record<string, string> = {
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(options.agent ? {} : { connection: 'close' }),
    ...options.headers,
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        headers,
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** The HTTP status of a GET, or undefined when nothing answered within `timeoutMs`. */
export async function httpStatus(url: string, timeoutMs = 2_000): Promise<number | undefined> {
  try {
    return (await httpRequest(url, { timeoutMs })).status
  } catch {
    return undefined
  }
}

/** GETs a JSON document; throws, naming the URL, on a network error or any status but 200. */
export async function getJson(url: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  let answer: HttpAnswer
  try {
    answer = await httpRequest(url, { timeoutMs })
  } catch (error) {
    throw new Error(`GET ${url} failed: ${(error as Error).message}`, { cause: error })
  }
  if (answer.status !== 200) throw new Error(`GET ${url} answered ${answer.status}`)
  return JSON.parse(answer.body) as Record<string, unknown>
}
