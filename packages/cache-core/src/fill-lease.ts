import { randomBytes } from 'node:crypto'
import type { FillParts, Flight } from './install.js'
import type { Lookup } from './lookup.js'
import type { FillLeaseState } from './stores/l2-store.js'

/** Tells this process's lease tokens from every other's; a counter tells its own apart. */
const TOKEN_PREFIX = randomBytes(6).toString('hex')
let issued = 0

/**
 * A waiter's first look at L2 after finding the lease held, in ms; each next one waits twice as
 * long (2, 4, 8, 16…: five looks in 50 ms). A load and its L2 set take a few milliseconds; each
 * look is a Redis call, and a fill that does not come soon (its set refused by a newer write)
 * should not cost many.
 */
const FIRST_LOOK = 2

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * One load per key cluster-wide (memcache's leases): called after L2 had no record this flight
 * may serve. The first reader to get here takes the key's fill lease and goes to the loader
 * (resolves undefined; the lease is noted on the flight, which drops it once its load is over).
 * Readers that find it held wait for the holder's fill, looking again with growing pauses for at
 * most `l2.fillLeaseWait` ms in all, and serve it from L2 under every check an L2 read makes
 * (`reread`); if it does not come in time they load themselves.
 *
 * The lease only decides who loads: the fill is served only if it passes `reread`'s checks, and
 * the L2 set of whoever loads is checked against the fence as always. A lease names the version
 * it was taken for, so a reader that knows of a newer write takes it over rather than wait.
 */
export async function awaitFill<T>(
  parts: FillParts<T>,
  key: string,
  flight: Flight<T>,
  reread: () => Promise<Lookup<T> | undefined>,
): Promise<Lookup<T> | undefined> {
  const { counters, options, breaker } = parts
  const wait = options.l2.fillLeaseWait
  // A failed first read (Redis hangs: the breaker is open) must not cost a second timeout.
  if (wait === 0 || parts.store?.takeFillLease === undefined || breaker?.open) return undefined
  const token = `${TOKEN_PREFIX}${(issued++).toString(36)}`
  const started = performance.now()
  let state = await take(parts, key, flight, token)
  const waited = state === 'held'
  if (waited) counters.fillLeaseWaits++
  for (let pauseMs = FIRST_LOOK; state === 'held'; pauseMs *= 2) {
    const left = wait - (performance.now() - started)
    if (left <= 0) {
      counters.fillLeaseTimeouts++
      return undefined
    }
    await pause(Math.min(pauseMs, left))
    if (!mayReadL2(parts, flight)) return undefined
    state = await take(parts, key, flight, token)
  }
  if (state === 'taken') flight.lease = token
  if (state !== 'filled') return undefined
  const lookup = await reread()
  if (lookup !== undefined && waited) counters.fillLeaseFills++
  return lookup
}

/**
 * Whether a waiting flight may still read L2, as when it first did: the bus lease holds, Redis
 * answers, and nothing dropped its partition meanwhile (a clear, a bus loss, a new generation:
 * records it would then take for fresh may predate them). An invalidation that detached it does
 * not matter here: it raised the local fence, which every L2 read checks.
 */
function mayReadL2<T>(parts: FillParts<T>, flight: Flight<T>): boolean {
  const { coherence, breaker } = parts
  const { partition } = flight
  return (
    !breaker?.open &&
    flight.epoch === coherence.epoch &&
    coherence.online(partition) &&
    flight.generation === coherence.generations.of(partition) &&
    coherence.leaseHeld(partition, performance.now())
  )
}

/** Drops the lease a flight took, once its load is over (not awaited: off the read's path). */
export function dropFillLease<T>(parts: FillParts<T>, key: string, flight: Flight<T>): void {
  const token = flight.lease
  if (token === undefined) return
  flight.lease = undefined
  parts.store?.dropFillLease?.(key, token).catch((error: unknown) => {
    parts.redisFailed('l2.fill-lease', error)
  })
}

async function take<T>(
  parts: FillParts<T>,
  key: string,
  flight: Flight<T>,
  token: string,
): Promise<FillLeaseState | undefined> {
  try {
    return await parts.store?.takeFillLease?.(key, {
      version: Math.max(flight.fence, parts.fences.get(key) ?? 0),
      generation: flight.generation,
      now: Date.now(),
      token,
      ttlMs: parts.options.maxLoadTime,
    })
  } catch (error) {
    parts.redisFailed('l2.fill-lease', error)
    return undefined
  }
}
