import { Gauge, type Registry } from 'prom-client'
import type { ClusterView } from './cluster-stats.js'

/** One open `/dashboard/events` stream: it is handed each view, and told when to end. */
export interface DashboardClient {
  send(view: ClusterView): void
  end(): void
}

/** How long a stream may take to accept one view before it is ended (a vanished peer). */
export const STALLED_CLIENT_MS = 30_000

/**
 * A client over a stream that writes one view at a time: a view that comes while the previous
 * one is still being written is dropped (a stalled browser holds one view in memory at most, and
 * sees the next one once it reads again), and a stream that has taken nothing for `stalledMs` is
 * ended: a peer gone without a FIN or RST would otherwise hold its `DASHBOARD_MAX_CLIENTS` place
 * until TCP gives up.
 */
export function streamingClient(
  write: (view: ClusterView) => Promise<unknown>,
  end: () => void,
  stalledMs = STALLED_CLIENT_MS,
): DashboardClient {
  let writingSince: number | undefined
  const written = () => {
    writingSince = undefined
  }
  return {
    send(view) {
      if (writingSince !== undefined) {
        if (Date.now() - writingSince > stalledMs) end()
        return
      }
      writingSince = Date.now()
      write(view).then(written, written)
    },
    end,
  }
}

export interface DashboardFeedOptions {
  /** Streams open at once; one more is refused (`DASHBOARD_MAX_CLIENTS`). */
  maxClients: number
  /** What every client is sent: this replica's cluster view. */
  view: () => Promise<ClusterView>
  /** Where `strata_dashboard_clients` is registered. */
  registry: Registry
  intervalMs?: number
}

/**
 * The one producer behind every `/dashboard/events` stream of a replica: while at least one
 * client listens it builds the cluster view once per interval and hands the same view to all of
 * them, so ten open dashboards cost what one does (one cluster read per second, shared with
 * `/cache-stats`). It starts with the first client and stops when the last one leaves.
 */
export class DashboardFeed {
  readonly #clients = new Set<DashboardClient>()
  readonly #options: Required<DashboardFeedOptions>
  #timer: NodeJS.Timeout | undefined
  #building = false
  #closed = false

  constructor(options: DashboardFeedOptions) {
    this.#options = { intervalMs: 1_000, ...options }
    const clients = this.#clients
    new Gauge({
      name: 'strata_dashboard_clients',
      help: 'Live dashboard streams (/dashboard/events) open on this replica',
      registers: [options.registry],
      collect() {
        this.set(clients.size)
      },
    })
  }

  /** Streams open now. */
  get clients(): number {
    return this.#clients.size
  }

  /** Whether the feed was closed: the replica drains, and takes no more clients. */
  get closed(): boolean {
    return this.#closed
  }

  /** Whether the producer runs (it does exactly while a client is open). */
  get producing(): boolean {
    return this.#timer !== undefined
  }

  /**
   * Adds a client, which gets a view at once and then one per interval; returns how to remove
   * it, or undefined when the feed is full or closed (the caller answers 503).
   */
  join(client: DashboardClient): (() => void) | undefined {
    if (this.#closed || this.#clients.size >= this.#options.maxClients) return undefined
    this.#clients.add(client)
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs)
      // Open streams keep the process alive, not this timer.
      this.#timer.unref()
    }
    // The first view is built for the newcomer alone, so its page fills without waiting a tick.
    this.#options.view().then(
      (view) => this.#clients.has(client) && client.send(view),
      () => {},
    )
    return () => this.#leave(client)
  }

  /** Ends every stream and refuses new ones: the replica is draining. */
  close(): void {
    this.#closed = true
    for (const client of [...this.#clients]) {
      this.#leave(client)
      client.end()
    }
  }

  #leave(client: DashboardClient): void {
    this.#clients.delete(client)
    if (this.#clients.size > 0) return
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  async #tick(): Promise<void> {
    // A cluster read slower than the interval skips ticks rather than piling them up.
    if (this.#building) return
    this.#building = true
    try {
      const view = await this.#options.view()
      for (const client of this.#clients) client.send(view)
    } catch {
      // The next tick tries again; clusterView itself already falls back to this replica's row.
    } finally {
      this.#building = false
    }
  }
}
