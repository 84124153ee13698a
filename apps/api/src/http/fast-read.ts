import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { CacheLevel, Lookup } from '@strata/cache-core'
import type { StoredRecord } from '../db/records.js'
import type { Deps } from '../deps.js'
import { errorBody, failureAnswer } from '../errors.js'
import { recordRequest, requestIdFor } from './observe.js'
import { rawHeader } from './raw-header.js'
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
 * Hosts the adapter takes as they are (its `reValidHost`, @hono/node-server's src/url.ts). It
 * parses any other, and refuses some with 400: those requests go to it.
 */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/

// KeySchema's rules, for a key decoded from a PLAIN_KEY target (so no lone surrogates, never
// empty, never `.` or `..`): at most 256 code points, which is certain at 256 UTF-16 units or
// fewer (longer ones go to the router, which counts code points), and no control characters,
// which only a percent escape can spell.
const MAX_PLAIN_KEY_UNITS = 256
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/**
 * Whether the router would take `key` from `target` and a request with `host` as they are: a
 * Host the adapter accepts without parsing a URL, and a key KeySchema accepts.
 */
function plainRequest(target: string, key: string, host: string | undefined): boolean {
  return (
    host !== undefined &&
    PLAIN_HOST.test(host) &&
    key.length <= MAX_PLAIN_KEY_UNITS &&
    !(target.includes('%') && CONTROL.test(key))
  )
}

/** The path of a request target, without its query: what the access log and error log show. */
function pathOf(target: string): string {
  const queryStart = target.indexOf('?')
  return queryStart < 0 ? target : target.slice(0, queryStart)
}

/**
 * Wraps the app's node request listener with the read fast path: `GET /read/{key}` is answered
 * right here, before any Request, Context or Response object exists. An L1 hit synchronously;
 * an L1 miss (L2, the database, a cached or a real 404, a failed load) after `cache.get`.
 *
 * Why: reads are the product's hot path, and everything the router adds (the adapter's Request
 * and Response objects, zod, the middleware chain, its promises) costs more than an L1 hit and
 * about as much as an L2 round trip. Other routes, other methods and anything unusual (a key the
 * fast path cannot validate cheaply, a Host the adapter would have to parse) go to `next`. A key
 * found in L1 was validated when it was first loaded, so L1 hits skip those checks. The answer is
 * the router's: same status, body and headers, the same request metrics and log lines, and
 * failures mapped by the same `failureAnswer`; tests compare the two over a real socket.
 */
export function withFastRead(deps: Deps, next: RequestListener): RequestListener {
  const { cache, env, metrics, logger, consistency } = deps
  const replicaId = env.REPLICA_ID
  const accessLog = env.ACCESS_LOG ? logger : undefined
  const found = metrics.durationSeries(ROUTE, 'GET', 200)
  const missing = metrics.durationSeries(ROUTE, 'GET', 404)

  /** Metrics, and the access-log line when it is on, of an answered read. */
  function recordRead(
    req: IncomingMessage,
    status: number,
    level: CacheLevel | undefined,
    requestId: string,
    startedAt: number,
  ): void {
    if (accessLog === undefined && (status === 200 || status === 404)) {
      ;(status === 200 ? found : missing).observe((performance.now() - startedAt) / 1000)
      return
    }
    recordRequest(metrics, accessLog, {
      requestId,
      method: 'GET',
      path: pathOf(req.url as string),
      route: ROUTE,
      status,
      startedAt,
      cacheLevel: level,
    })
  }

  // An L1 hit is answered by code written out in full, the request's only work besides the socket
  // write: measured, a shared helper for the answer and the metrics cost it about 5%.
  function answerFromL1(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    startedAt: number,
  ): boolean {
    const hit = cache.peek(key, startedAt)
    if (hit === undefined) return false
    const requestId = requestIdFor(rawHeader(req.rawHeaders, 'x-request-id'))
    const { body, length } = render(key, hit)
    const status = hit.found ? 200 : 404
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': length,
      'x-cache-level': 'L1',
      'x-replica-id': replicaId,
      'x-request-id': requestId,
    })
    res.end(body)
    metrics.countRead('L1')
    // One decrement unless this read is sampled for the consistency SLI.
    if (consistency.tick()) consistency.sample(key, hit.version, 'L1', startedAt)
    if (accessLog === undefined) {
      ;(hit.found ? found : missing).observe((performance.now() - startedAt) / 1000)
    } else recordRead(req, status, 'L1', requestId, startedAt)
    return true
  }

  /** An L1 miss: L2 or the loader, or the failure the router would answer. Never rejects. */
  async function answerFromLoad(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    startedAt: number,
  ): Promise<void> {
    const requestId = requestIdFor(rawHeader(req.rawHeaders, 'x-request-id'))
    let hit: Lookup<StoredRecord>
    try {
      hit = await cache.get(key)
    } catch (error) {
      const failure = failureAnswer(error, logger, requestId, pathOf(req.url as string))
      const body = JSON.stringify(errorBody(failure.code, failure.message, failure.fields))
      res.writeHead(failure.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-replica-id': replicaId,
        'x-request-id': requestId,
      })
      res.end(body)
      recordRead(req, failure.status, undefined, requestId, startedAt)
      return
    }
    metrics.countRead(hit.level)
    if (consistency.tick()) consistency.sample(key, hit.version, hit.level, startedAt)
    const body = JSON.stringify(readResponse(key, hit))
    const status = hit.found ? 200 : 404
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-cache-level': hit.level,
      'x-replica-id': replicaId,
      'x-request-id': requestId,
    })
    res.end(body)
    recordRead(req, status, hit.level, requestId, startedAt)
  }

  return (req, res) => {
    const key = fastReadKey(req.method, req.url)
    if (key === undefined) return next(req, res)
    const startedAt = performance.now()
    if (answerFromL1(req, res, key, startedAt)) return
    if (!plainRequest(req.url as string, key, rawHeader(req.rawHeaders, 'host'))) {
      return next(req, res)
    }
    answerFromLoad(req, res, key, startedAt).catch((error: unknown) => {
      // Nothing after the lookup should throw; if something does, this connection ends, not
      // the process (an unhandled rejection would stop the replica).
      logger.error({ err: error }, 'the read fast path failed after its lookup')
      res.destroy()
    })
  }
}
