import type { BusLink } from './bus/redis-bus.js'
import type { CacheEventEmitter } from './events.js'
import type { Counters } from './stats.js'

/**
 * Counts and reports lease lapses, once per lapse of each link. A lapse only needs reporting:
 * L1 already stopped serving the link's partitions (every read checks the lease), and keeps their
 * entries: messages are late, not lost (a lost subscription takes the link down instead), and
 * the heartbeat that renews the lease comes back after every message published before it.
 */
export class LeaseReports {
  readonly #lapsed = new Set<BusLink>()
  readonly #counters: Counters
  readonly #events: CacheEventEmitter

  constructor(counters: Counters, events: CacheEventEmitter) {
    this.#counters = counters
    this.#events = events
  }

  lapsed(link: BusLink): void {
    if (this.#lapsed.has(link)) return
    this.#lapsed.add(link)
    this.#counters.leaseLapses++
    this.#events.emit('lease', { held: false })
  }

  renewed(link: BusLink): void {
    if (this.#lapsed.delete(link)) this.#events.emit('lease', { held: true })
  }

  /** The link went up or down: whatever lapse it had is over. */
  forget(link: BusLink): void {
    this.#lapsed.delete(link)
  }
}
