/** Plain counters, bumped inline; `TieredCache.stats()` reads them. Nothing here does I/O. */
export class Counters {
  reads = 0
  l1Hits = 0
  l1Misses = 0
  l2Hits = 0
  l2Misses = 0
  /** Loader calls. */
  dbReads = 0
  promotions = 0
  staleSetsRejected = 0
  invalidationsSent = 0
  invalidationsReceived = 0
  clearsReceived = 0
  malformedMessages = 0
  /** Redis operations that failed and were degraded around. */
  redisErrors = 0
  busDisconnects = 0
  /** Times the bus lease lapsed (L1 paused until a heartbeat came back). */
  leaseLapses = 0
  /** Times Redis's generation moved while this instance was not subscribed (data loss or a missed clear). */
  dataLosses = 0
  /** Joiners of a load that read a row older than a write they knew of, and so loaded again. */
  joinRetries = 0
  /** Loads that installed nothing: detached by an invalidation or a bus loss, too old, or quarantined. */
  discardedLoads = 0
  /** Fences left by refused writes and taken back. */
  fencesRestored = 0
  /** Reads that found another replica loading their key (its fill lease held) and waited. */
  fillLeaseWaits = 0
  /** Of those, the ones served the fill from L2. */
  fillLeaseFills = 0
  /** Of those, the ones whose fill did not come within `l2.fillLeaseWait`, and loaded. */
  fillLeaseTimeouts = 0
  /**
   * L2 sets a writer sent to fill its committed row (one script each, installed or refused):
   * Redis commands of the write path, which a count of the read path's must leave out.
   */
  writeFills = 0
}

/** A point-in-time copy of the counters with the derived rates (percentages, 0–100). */
export interface CacheStats {
  reads: number
  l1Hits: number
  l1Misses: number
  l1HitRate: number
  l2Hits: number
  l2Misses: number
  l2HitRate: number
  /** (L1 hits + L2 hits) / reads. */
  combinedHitRate: number
  dbReads: number
  promotions: number
  staleSetsRejected: number
  invalidationsSent: number
  invalidationsReceived: number
  clearsReceived: number
  malformedMessages: number
  redisErrors: number
  busDisconnects: number
  leaseLapses: number
  dataLosses: number
  joinRetries: number
  discardedLoads: number
  fencesRestored: number
  fillLeaseWaits: number
  fillLeaseFills: number
  fillLeaseTimeouts: number
  writeFills: number
  l1Size: number
  l1MaxSize: number
  l1Bytes: number
  busState: 'up' | 'down' | 'off'
  generation: number
}

/** `part / whole` as a percentage with two decimals; 0 when nothing was counted. */
export const percent = (part: number, whole: number): number =>
  whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 100

/** The state beside the counters that a snapshot reports. */
export type TierState = Pick<
  CacheStats,
  'l1Size' | 'l1MaxSize' | 'l1Bytes' | 'busState' | 'generation'
>

/** The counters, with the derived rates, and the tiers' state: what `stats()` returns. */
export function snapshot(c: Counters, tiers: TierState): CacheStats {
  return {
    reads: c.reads,
    l1Hits: c.l1Hits,
    l1Misses: c.l1Misses,
    l1HitRate: percent(c.l1Hits, c.l1Hits + c.l1Misses),
    l2Hits: c.l2Hits,
    l2Misses: c.l2Misses,
    l2HitRate: percent(c.l2Hits, c.l2Hits + c.l2Misses),
    combinedHitRate: percent(c.l1Hits + c.l2Hits, c.reads),
    dbReads: c.dbReads,
    promotions: c.promotions,
    staleSetsRejected: c.staleSetsRejected,
    invalidationsSent: c.invalidationsSent,
    invalidationsReceived: c.invalidationsReceived,
    clearsReceived: c.clearsReceived,
    malformedMessages: c.malformedMessages,
    redisErrors: c.redisErrors,
    busDisconnects: c.busDisconnects,
    leaseLapses: c.leaseLapses,
    dataLosses: c.dataLosses,
    joinRetries: c.joinRetries,
    discardedLoads: c.discardedLoads,
    fencesRestored: c.fencesRestored,
    fillLeaseWaits: c.fillLeaseWaits,
    fillLeaseFills: c.fillLeaseFills,
    fillLeaseTimeouts: c.fillLeaseTimeouts,
    writeFills: c.writeFills,
    ...tiers,
  }
}

/** The health of each tier, as `/health` reports it. */
export interface CacheHealth {
  mode: string
  l1: 'serving' | 'bypassed' | 'off'
  l2: 'up' | 'down' | 'scripts-missing' | 'off'
  bus: 'up' | 'down' | 'off'
}
