import { type FillParts, type Flight, installL1, mayInstall, rejectStale } from './install.js'
import { found, type Lookup, missing } from './lookup.js'
import type { L2Record } from './stores/l2-record.js'

/**
 * The loader half of a fill: calls the loader, then installs what it returned in L2 (when reads
 * go through L2) and L1, each only if `mayInstall` still allows it at that moment.
 */
export async function load<T>(
  parts: FillParts<T>,
  key: string,
  flight: Flight<T>,
): Promise<Lookup<T>> {
  const { counters, options, coherence } = parts
  counters.dbReads++
  const loaded = await options.loader(key)
  const isAbsent = loaded === undefined || 'absent' in loaded
  const version = loaded?.version ?? 0
  const lookup = isAbsent ? missing(version, 'DB') : found(loaded.value, version, 'DB')
  const store = parts.l2Reads ? parts.store : undefined
  if (!mayInstall(parts, key, version, flight, store ? 'L2' : 'L1')) return lookup
  const ttl = isAbsent ? options.negativeTtl : options.l2.ttl
  const needsPayload = !isAbsent && (store !== undefined || parts.l1Sized)
  const payload = needsPayload && !isAbsent ? options.serializer.serialize(loaded.value) : ''
  const bytes = payload === '' ? 0 : Buffer.byteLength(payload)

  if (store) {
    // Too large for L2: cached nowhere, since L1 takes only what L2 accepted.
    if (bytes > options.l2.maxEntryBytes) return lookup
    // Without L2's verdict this instance cannot know whether a newer write exists: skip L1.
    if (parts.breaker?.open || !coherence.online(flight.partition)) return lookup
    const expiresAt = Date.now() + ttl
    const generation = flight.generation
    const record: L2Record = isAbsent
      ? { kind: 'absent', version, expiresAt, generation }
      : { kind: 'value', version, expiresAt, generation, payload }
    let accepted: boolean
    // Redis refuses it past the load's deadline, on its own clock: a set delayed on its way
    // there (a paused process, a slow link) must not land after the fence that would refuse it
    // has expired. (fenceTtl exceeds maxLoadTime by far more than any clock skew.)
    const deadline = Date.now() + options.maxLoadTime - (performance.now() - flight.startedAt)
    try {
      accepted = await store.set(key, record, ttl, deadline, flight.lease)
      // The set dropped the flight's lease with it, installed or refused: one command for both.
      flight.lease = undefined
    } catch (error) {
      parts.redisFailed('l2.set', error)
      return lookup
    }
    if (!accepted) {
      rejectStale(parts, key, version, flight.fence, 'L2')
      return lookup
    }
    // Anything may have happened during the round trip: ask again before L1.
    if (!mayInstall(parts, key, version, flight, 'L1')) return lookup
  }
  if (parts.l1Enabled) {
    installL1(parts, flight, key, lookup, isAbsent ? options.negativeTtl : options.l1.ttl, bytes)
  }
  return lookup
}
