import { awaitFill } from './fill-lease.js'
import { type FillParts, type Flight, installL1, mayInstall, rejectStale } from './install.js'
import { found, type Lookup, missing } from './lookup.js'
import type { L2Record } from './stores/l2-record.js'

/**
 * How many leases a read that needs L2 waits for a lapsed lease to be renewed. Four: heartbeats go
 * out every quarter lease, so a late one is followed by three more within that time.
 */
const LEASE_WAIT = 4

/**
 * The L2 half of a fill: the record L2 holds for `key` when it may be served (promoted to L1 when
 * L1 serves), or undefined when the fill must go to the loader.
 *
 * Without the lease, an invalidation may be held up on its way here, and L2 may hold what it
 * would have refused (a record written after a lost fence). A lease that ran out because a
 * heartbeat came back late (a busy machine, a GC pause) is renewed by the next one: wait up to
 * LEASE_WAIT leases for it, else read the source. On a link that is really silent, that is what
 * each L2 read costs until the heartbeat gives the subscription up.
 */
export async function readL2<T>(
  parts: FillParts<T>,
  key: string,
  flight: Flight<T>,
): Promise<Lookup<T> | undefined> {
  const { coherence, breaker } = parts
  const { partition } = flight
  if (!parts.l2Reads || !coherence.online(partition) || breaker?.open) return undefined
  const leased =
    coherence.leaseHeld(partition, performance.now()) ||
    (await coherence.leaseRenewed(partition, LEASE_WAIT * parts.options.busLease))
  // A drop while it waited (a clear, a new generation) may have made the flight's generation old.
  if (!leased || flight.detached || !coherence.online(partition) || breaker?.open) return undefined
  const lookup =
    (await readRecord(parts, key, flight)) ??
    (await awaitFill(parts, key, flight, () => readRecord(parts, key, flight)))
  if (lookup === undefined) parts.counters.l2Misses++
  return lookup
}

/** One L2 read: the record when this flight may serve it (counted as a hit), else undefined. */
async function readRecord<T>(
  parts: FillParts<T>,
  key: string,
  flight: Flight<T>,
): Promise<Lookup<T> | undefined> {
  const { counters, options } = parts
  let record: L2Record | undefined
  try {
    record = await parts.store?.get(key)
  } catch (error) {
    parts.redisFailed('l2.get', error)
  }
  if (record === undefined) return undefined
  // A record older than a write this instance knows of is stale, whatever L2 says: it can have
  // been set after its fence expired or was lost (a Redis restart), by a load that was slow.
  const known = Math.max(flight.fence, parts.fences.get(key) ?? 0)
  // Whatever L2 holds, no load may install a version older than it.
  flight.fence = Math.max(flight.fence, record.version)
  if (
    record.kind === 'fence' ||
    record.version < known ||
    record.generation < flight.generation ||
    record.expiresAt <= Date.now()
  ) {
    if (record.kind !== 'fence' && record.version < known) {
      rejectStale(parts, key, record.version, known, 'L2')
    }
    return undefined
  }
  let lookup: Lookup<T>
  try {
    lookup =
      record.kind === 'value'
        ? found(options.serializer.deserialize(record.payload), record.version, 'L2')
        : missing(record.version, 'L2')
  } catch (error) {
    parts.degraded('l2.decode', error)
    return undefined
  }
  counters.l2Hits++
  if (parts.l1Enabled && mayInstall(parts, key, record.version, flight, 'L1')) {
    const limit = record.kind === 'value' ? options.l1.ttl : options.negativeTtl
    const ttl = Math.min(limit, record.expiresAt - Date.now())
    const bytes = record.kind === 'value' ? Buffer.byteLength(record.payload) : 0
    if (ttl > 0 && installL1(parts, flight, key, lookup, ttl, bytes)) {
      counters.promotions++
      parts.events.emit('promote', { key, version: record.version, ttl })
    }
  }
  return lookup
}
