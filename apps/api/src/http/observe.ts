import { randomBytes } from 'node:crypto'
import type { Logger } from '../logger.js'
import type { Metrics } from '../metrics.js'

// Client-supplied ids are echoed only when they look like ids, never arbitrary text.
const CLIENT_REQUEST_ID = /^[\w.:-]{1,128}$/
// A random per-process prefix and a counter: unique ids at the cost of an increment, where a
// UUID per request would cost a random draw on every read.
const PROCESS_PREFIX = randomBytes(4).toString('hex')
let sequence = 0

/** The client's `X-Request-Id` when it is well-formed, else a fresh one. */
export function requestIdFor(clientId: string | undefined | null): string {
  if (clientId && CLIENT_REQUEST_ID.test(clientId)) return clientId
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER
  return `${PROCESS_PREFIX}-${sequence.toString(36)}`
}

/** What one answered request reports to metrics and, when enabled, the access log. */
export interface RequestRecord {
  requestId: string
  method: string
  path: string
  route: string
  status: number
  startedAt: number
  cacheLevel: string | undefined
}

/** Records a finished request: one histogram observation, and one access-log line if enabled. */
export function recordRequest(
  metrics: Metrics,
  logger: Logger | undefined,
  r: RequestRecord,
): void {
  const seconds = (performance.now() - r.startedAt) / 1000
  metrics.observeRequest(r.route, r.method, r.status, seconds)
  logger?.info(
    {
      req_id: r.requestId,
      method: r.method,
      path: r.path,
      status: r.status,
      ms: Math.round(seconds * 100_000) / 100,
      cache_level: r.cacheLevel,
    },
    'request',
  )
}
