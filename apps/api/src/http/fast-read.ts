import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { Lookup } from '@strata/cache-core'
import type { StoredRecord } from '../db/records.js'
import type { Deps } from '../deps.js'
import { recordRequest, requestIdFor } from './observe.js'
import { readResponse } from './read-response.js'

const PREFIX = '/read/'
const ROUTE = '/read/:key'

/**
 * Raw keys the fast path takes: characters that the WHATWG URL parser and Hono's router leave
 * as they are (percent escapes included, decoded below as the router decodes them). Anything
 * else — a second `/`, a backslash, spaces, `#` — goes to the router, which knows those rules.
 */
const PLAIN_KEY = /^[\w!$&'()*+,;=:@~.%-]+$/

/** The serialized answer of one L1 entry: body and its byte length. */
interface Rendered {
  body: string
  length: number
}

// L1 entries are frozen and replaced, never mutated, so the JSON of an entry can be kept beside
// it: a hot key is serialized once per version instead of once per request.
const rendered = new WeakMap<object, Rendered>()

function render(key: string, hit: Lookup<StoredRecord>): Rendered {
  let answer = rendered.get(hit)
  if (answer === undefined) {
    const body = JSON.stringify(readResponse(key, hit))
    answer = { body, length: Buffer.byteLength(body) }
    rendered.set(hit, answer)
  }
  return answer
}

/** A header from `rawHeaders` by its lowercase name, without building `req.headers`. */
function rawHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const header = raw[i] as string
    if (header.length === name.length && header.toLowerCase() === name) return raw[i + 1]
  }
  return undefined
}

/**
 * The key of a `GET /read/{key}` request target the fast path may answer, decoded as the
 * router decodes it; undefined for every other request (they go to the router).
 */
export function fastReadKey(
  method: string | undefined,
  target: string | undefined,
): string | undefined {
  if (method !== 'GET' || target === undefined || !target.startsWith(PREFIX)) return undefined
  const queryStart = target.indexOf('?', PREFIX.length)
  const raw = target.slice(PREFIX.length, queryStart < 0 ? undefined : queryStart)
  if (!PLAIN_KEY.test(raw)) return undefined
  let key = raw
  if (raw.includes('%')) {
    try {
      key = decodeURIComponent(raw)
    } catch {
      return undefined
    }
  }
  // `.` and `..` (also spelt `%2e`) are dot segments: the URL parser removes them, so the router
  // never sees them as a key.
  return key === '.' || key === '..' ? undefined : key
}

/**
 * Wraps the app's node request listener with the L1 fast path: an L1 hit of `GET /read/{key}`
 * is answered right here, synchronously, before any Request, Context or Response object exists.
 *
 * Why: an L1 hit is the product's hot path, and everything the router adds (the adapter's
 * Request and Response objects, the middleware chain, its promises) costs more than the lookup
 * itself. Only L1 hits are served here; misses, other routes and unusual targets go to `next`
 * as usual. A key found in L1 was validated when it was first loaded, so the validation the
 * router would run cannot fail for it. The answer is the router's: same status, body and
 * headers, and the same request metrics; tests compare the two over a real socket.
 */
export function withFastRead(deps: Deps, next: RequestListener): RequestListener {
  const { cache, env, metrics } = deps
  const replicaId = env.REPLICA_ID
  const accessLog = env.ACCESS_LOG ? deps.logger : undefined
  const found = metrics.durationSeries(ROUTE, 'GET', 200)
  const missing = metrics.durationSeries(ROUTE, 'GET', 404)

  function answerFromL1(req: IncomingMessage, res: ServerResponse): boolean {
    const key = fastReadKey(req.method, req.url)
    if (key === undefined) return false
    const startedAt = performance.now()
    const hit = cache.peek(key, startedAt)
    if (hit === undefined) return false

    const requestId = requestIdFor(rawHeader(req.rawHeaders, 'x-request-id'))
    const status = hit.found ? 200 : 404
    const { body, length } = render(key, hit)
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': length,
      'x-cache-level': 'L1',
      'x-replica-id': replicaId,
      'x-request-id': requestId,
    })
    res.end(body)
    metrics.countRead('L1')
    if (accessLog === undefined) {
      ;(hit.found ? found : missing).observe((performance.now() - startedAt) / 1000)
    } else {
      const url = req.url as string
      const queryStart = url.indexOf('?')
      recordRequest(metrics, accessLog, {
        requestId,
        method: 'GET',
        path: queryStart < 0 ? url : url.slice(0, queryStart),
        route: ROUTE,
        status,
        startedAt,
        cacheLevel: 'L1',
      })
    }
    return true
  }

  return (req, res) => {
    if (!answerFromL1(req, res)) next(req, res)
  }
}
