import type { L2Record } from './l2-record.js'

/**
 * An invalidation that travels with a fence: published on `channel` (with `SPUBLISH` when
 * `sharded`) in the same atomic step as the fence, whether or not the fence went up.
 */
export interface Announcement {
  channel: string
  payload: string
  sharded: boolean
}

/**
 * The fill lease a write takes with its fence (see {@link L2Store.fence}): `token` names the
 * writer, so that only it drops the lease; it lasts `ttlMs` if the writer never fills nor drops it.
 */
export interface WriterLease {
  token: string
  ttlMs: number
}

/**
 * What taking a key's fill lease found: `taken` (this reader loads), `held` (another reader
 * holds it for the version this one needs, or a newer one: wait for its fill) or `filled` (L2
 * already holds a record this reader may serve: read it again).
 */
export type FillLeaseState = 'taken' | 'held' | 'filled'

/** What a reader asks for when it takes a fill lease (see {@link L2Store.takeFillLease}). */
export interface FillLeaseRequest {
  /** The lowest version the reader may serve: the fence it knows, or L2 showed it. */
  version: number
  /** The reader's generation: a record of an older one does not count as a fill. */
  generation: number
  /** The reader's clock, in milliseconds since the epoch: an expired record is no fill. */
  now: number
  /** Names the reader, so that only it can drop its lease. */
  token: string
  /** How long the lease lasts if its holder never drops it (it died), in milliseconds. */
  ttlMs: number
}

/**
 * The contract of a shared L2. Keys are user keys; the store owns its namespace.
 * Every method may reject when the backing service is down; the cache treats that as a miss.
 */
export interface L2Store {
  /** The record under `key`; undefined on miss. Never rejects for an absent key. */
  get(key: string): Promise<L2Record | undefined>
  /**
   * Installs a value or a cached miss unless a record with a newer version is already there, or
   * `deadline` (milliseconds since the epoch) has passed when the store runs it: a set that
   * arrives that late comes from a load so old that the fence refusing it may have expired.
   * Resolves false when it refused. With `leaseToken` (the filler holds the key's fill lease),
   * drops that lease in the same step, installed or refused, if the token still holds it; a
   * wrapper must pass it on, or the lease stays until it expires (readers of that version whose
   * record is gone then wait up to `l2.fillLeaseWait` for nothing).
   */
  set(
    key: string,
    record: L2Record,
    ttlMs: number,
    deadline: number,
    leaseToken?: string,
  ): Promise<boolean>
  /**
   * Leaves a fence that refuses every version below `version`, replacing older entries.
   * `nonce` names the write, so that `unfence` takes back this fence and no other. With an
   * `announce`ment, publishes it in the same step (one command, one reply); a wrapper must pass
   * it on, or the other replicas never hear of the write. With a `lease`, a fence that went up
   * also takes the key's fill lease for `version` in the same step (the writer fills L2 after its
   * commit); a wrapper that drops it only makes readers load for themselves.
   */
  fence(
    key: string,
    version: number,
    generation: number,
    nonce: string,
    ttlMs: number,
    announce: Announcement | undefined,
    lease?: WriterLease,
  ): Promise<void>
  /**
   * Takes back the fence a refused write left (`version` and `nonce` as given to `fence`), if it
   * is still there: it becomes a fence at `version - 1` (no fence at all when that is 0), so the
   * key is cacheable again at its committed version. Resolves true when it was there.
   */
  unfence(
    key: string,
    version: number,
    generation: number,
    nonce: string,
    ttlMs: number,
  ): Promise<boolean>
  /**
   * Reads a partition's generation after a (re)subscribe, repairing it first: when the key is
   * missing or below `known` (Redis lost data), it is set past `known` (to `known + 1`, or to
   * `fresh` when this instance knew none), so every instance sees it move. Resolves the value.
   * `partition` is 0 on a single Redis server, which has one.
   */
  syncGeneration(known: number, fresh: number, partition?: number): Promise<number>
  /**
   * Starts a new generation of a partition above both Redis's and `known`, emptying its part of
   * L2 without a scan.
   */
  bumpGeneration(known: number, partition?: number): Promise<number>
  /**
   * Optional: one load per key cluster-wide. A reader that found no record it may serve takes
   * the key's fill lease unless another holds it for the version it needs (or a newer one), or
   * L2 has been filled since it looked. A store without it (a wrapper that does not pass it on)
   * turns fill leases off.
   */
  takeFillLease?(key: string, request: FillLeaseRequest): Promise<FillLeaseState>
  /** Drops the fill lease `token` holds, if it still does (its load failed or was refused). */
  dropFillLease?(key: string, token: string): Promise<void>
}
