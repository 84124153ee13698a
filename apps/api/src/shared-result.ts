/**
 * Wraps `work` so that a call made while one is in flight, or within `ttlMs` after it settled,
 * gets that call's result instead of starting another. An unauthenticated endpoint that costs a
 * database query or a few Redis commands then costs at most one of them per `ttlMs`, however
 * many requests arrive.
 * @example const ping = sharedFor(1_000, () => records.ping()); await ping()
 */
export function sharedFor<T>(ttlMs: number, work: () => Promise<T>): () => Promise<T> {
  let last: Promise<T> | undefined
  let freshUntil = 0
  return () => {
    if (last !== undefined && performance.now() < freshUntil) return last
    const current = work()
    last = current
    freshUntil = Number.POSITIVE_INFINITY
    const settled = () => {
      if (last === current) freshUntil = performance.now() + ttlMs
    }
    current.then(settled, settled)
    return current
  }
}
