import { EventEmitter } from 'node:events'
import { type BusMessage, type InvalidateMessage, lagSeconds } from './bus/messages.js'
import type { BusState } from './bus/redis-bus.js'

/** Every event a cache emits, with its payload. None is emitted on the L1 hit path. */
export interface CacheEvents {
  /**
   * A key was invalidated: `local` when this instance wrote it, else heard on the bus. A message
   * from a traced write carries its W3C `traceparent` (see the `traceparent` option).
   */
  invalidate: {
    key: string
    version: number
    origin: string
    local: boolean
    traceparent?: string | undefined
  }
  /**
   * An invalidation or clear from another instance was applied here `seconds` after its sender
   * published it (sender's wall clock to this one's; see `lagSeconds` for clock offsets). Only
   * for messages that carry their send time.
   */
  'invalidation-lag': { seconds: number; type: 'invalidate' | 'clear'; origin: string }
  /** The cache was cleared cluster-wide; `generation` is the new L2 namespace. */
  clear: { generation: number; origin: string; local: boolean }
  /** The bus subscription went up or down. While down, L1 serves nothing. */
  bus: { state: BusState }
  /**
   * The bus lease lapsed (`held: false`: no PING on the subscriber was answered in time, so
   * invalidations may be held up; L1 serves nothing but keeps its entries) or was renewed.
   */
  lease: { held: boolean }
  /** An L2 entry was copied into L1. */
  promote: { key: string; version: number; ttl: number }
  /** A load or an L2 read older than a known write was refused by a tier. */
  'stale-set-rejected': { key: string; version: number; fence: number; tier: 'L1' | 'L2' }
  /**
   * Redis stopped answering commands (`down`: L2 is skipped and invalidations are refused at
   * once) or answered a probe again (`up`).
   */
  redis: { state: 'up' | 'down' }
  /**
   * Redis's generation moved while this instance was not subscribed: Redis lost its data (a
   * restart, a failover) or a clear was missed. Loads that start in the next `quarantineMs`
   * install nothing, since fences of writes still committing may be gone.
   */
  'data-loss': { generation: number; quarantineMs: number }
  /** A Redis operation failed; the read degraded to the next tier. */
  degraded: { operation: string; error: unknown }
  /** A bus payload failed to parse and was dropped; `raw` is its first 1,024 characters. */
  malformed: { raw: string; error: string }
}

/** A typed facade over EventEmitter. Listener errors are the listener's business. */
export class CacheEventEmitter {
  readonly #emitter = new EventEmitter()

  on<E extends keyof CacheEvents>(event: E, listener: (payload: CacheEvents[E]) => void): this {
    this.#emitter.on(event, listener)
    return this
  }

  off<E extends keyof CacheEvents>(event: E, listener: (payload: CacheEvents[E]) => void): this {
    this.#emitter.off(event, listener)
    return this
  }

  once<E extends keyof CacheEvents>(event: E, listener: (payload: CacheEvents[E]) => void): this {
    this.#emitter.once(event, listener)
    return this
  }

  /** Emits only when someone listens, so unobserved events cost one lookup. */
  emit<E extends keyof CacheEvents>(event: E, payload: CacheEvents[E]): void {
    if (this.#emitter.listenerCount(event) > 0) this.#emitter.emit(event, payload)
  }
}

/** Reports how long after its publish `message` took effect here, when it says when that was. */
export function emitLag(events: CacheEventEmitter, message: BusMessage): void {
  const seconds = lagSeconds(message.publishedAt)
  if (seconds === undefined) return
  events.emit('invalidation-lag', { seconds, type: message.type, origin: message.origin })
}

/** Reports an invalidation heard on the bus (and applied), then its lag. */
export function emitReceived(events: CacheEventEmitter, message: InvalidateMessage): void {
  const { key, version, origin, traceparent } = message
  events.emit('invalidate', { key, version, origin, local: false, traceparent })
  emitLag(events, message)
}
