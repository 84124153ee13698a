import type { Cluster, Redis } from 'ioredis'
import type { Partitioning } from '../partitions.js'
import type { BusMessage } from './messages.js'
import {
  type BusHandlers,
  type BusLink,
  type BusState,
  type InvalidationBus,
  publishOn,
  RedisBus,
  stampedPayload,
} from './redis-bus.js'

/** Milliseconds between two looks at the cluster's slot map for moved partitions. */
const MAP_CHECK_MS = 1_000
/** The first wait before finding the channels' nodes again after a link went down; doubles to MAP_CHECK_MS. */
const REMAP_FIRST_MS = 50

/** Options of the sharded bus. */
export interface ShardedBusOptions {
  /** The cluster client: SPUBLISH goes through it, and its slot map says where channels live. */
  cluster: Cluster
  partitioning: Partitioning
  origin: string
  heartbeatInterval: number
  lease: number
  /** Opens a subscriber connection to one node (no reconnects: this bus replaces it). */
  connect(host: string, port: number): Redis
}

interface Link {
  bus: RedisBus
  subscriber: Redis
  /** Went down: replaced at the next remap. */
  dead: boolean
}

/**
 * The invalidation bus on a Redis Cluster, on sharded pub/sub: each partition's channel lives in
 * its own slot (see {@link Partitioning}), so an invalidation is published on the shard that
 * holds its key and costs the other shards nothing (a classic PUBLISH is broadcast to every node).
 *
 * One {@link RedisBus} per master ("link"), subscribed to the channels of the partitions that
 * master serves, with its own heartbeat and lease: a shard that fails, hangs or loses a slot only
 * takes its own partitions out of L1. When a link goes down (its node died, or gave a slot away
 * and unsubscribed it) or the slot map changes (a failover, a migration), the links are laid out
 * again from the cluster client's slot map; a link whose partitions changed is replaced, and its
 * partitions start from an empty L1 once its new subscription is up.
 */
export class ShardedBus implements InvalidationBus {
  readonly #options: ShardedBusOptions
  readonly #handlers: BusHandlers
  /** By the master's `host:port`. */
  readonly #links = new Map<string, Link>()
  #checker: NodeJS.Timeout | undefined
  #remapTimer: NodeJS.Timeout | undefined
  #remapDelay = REMAP_FIRST_MS
  #closed = false

  constructor(options: ShardedBusOptions, handlers: BusHandlers) {
    this.#options = options
    this.#handlers = {
      ...handlers,
      onState: (link, state) => {
        handlers.onState(link, state)
        if (state === 'down') this.#linkDown(link)
        else this.#remapDelay = REMAP_FIRST_MS
      },
    }
  }

  /** `up` while every partition's channel is subscribed. */
  get state(): BusState {
    let carried = 0
    for (const { bus } of this.#links.values()) {
      if (bus.state !== 'up') return 'down'
      carried += bus.partitions.length
    }
    return carried === this.#options.partitioning.count ? 'up' : 'down'
  }

  start(): void {
    // The client learns the slot map on connecting and after each redirection or failover.
    this.#options.cluster.on('refresh', this.#onRefresh)
    this.#remap()
    this.#checker = setInterval(() => this.#check(), MAP_CHECK_MS)
    this.#checker.unref()
  }

  /** Publishes on `partition`'s channel, on the shard that serves it. */
  async publish(partition: number, message: BusMessage): Promise<void> {
    const channel = this.#options.partitioning.channel(partition)
    await publishOn(this.#options.cluster, true, channel, stampedPayload(message))
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#options.cluster.off('refresh', this.#onRefresh)
    clearInterval(this.#checker)
    clearTimeout(this.#remapTimer)
    for (const link of this.#links.values()) await this.#drop(link, false)
    this.#links.clear()
  }

  /** Each master's partitions, from the cluster client's slot map; undefined until it has one. */
  #owners(): Map<string, number[]> | undefined {
    const { cluster, partitioning } = this.#options
    const owners = new Map<string, number[]>()
    for (let partition = 0; partition < partitioning.count; partition++) {
      const master = cluster.slots[partitioning.slots[partition] as number]?.[0]
      if (master === undefined) continue
      const list = owners.get(master)
      if (list) list.push(partition)
      else owners.set(master, [partition])
    }
    return owners.size === 0 ? undefined : owners
  }

  /** Opens the links the slot map wants, replacing those whose partitions changed or that died. */
  #remap(): void {
    if (this.#closed) return
    const owners = this.#owners()
    for (const [master, link] of this.#links) {
      const wanted = owners?.get(master)
      if (!link.dead && wanted !== undefined && sameList(wanted, link.bus.partitions)) continue
      this.#links.delete(master)
      void this.#drop(link, true)
    }
    for (const [master, partitions] of owners ?? []) {
      if (!this.#links.has(master)) this.#open(master, partitions)
    }
    // Partitions without a master (a failover in progress) or links still dead: look again.
    if (owners === undefined || this.state === 'down') this.#scheduleRemap()
  }

  #open(master: string, partitions: number[]): void {
    const { partitioning } = this.#options
    const at = master.lastIndexOf(':')
    const subscriber = this.#options.connect(master.slice(0, at), Number(master.slice(at + 1)))
    const channels = new Map(partitions.map((p) => [partitioning.channel(p), p]))
    const { cluster, origin, heartbeatInterval, lease } = this.#options
    const bus = new RedisBus(
      {
        subscriber,
        publisher: cluster,
        channels,
        sharded: true,
        node: master,
        origin,
        heartbeatInterval,
        lease,
      },
      this.#handlers,
    )
    this.#links.set(master, { bus, subscriber, dead: false })
    // A connection that never came up (its node is down, or not back yet) ends without the bus
    // changing state, since it never was up: without this its partitions would wait for a slot
    // map change that does not come when the same nodes return (every node restarted).
    subscriber.once('end', () => {
      if (this.#links.get(master)?.bus === bus) this.#linkDown(bus)
    })
    bus.start()
  }

  async #drop(link: Link, report: boolean): Promise<void> {
    if (report) link.bus.retire()
    else await link.bus.close()
    link.subscriber.disconnect()
  }

  #linkDown(down: BusLink): void {
    for (const link of this.#links.values()) if (link.bus === down) link.dead = true
    this.#scheduleRemap()
  }

  /** Asks the cluster client for a fresh slot map, then lays the links out again. */
  #scheduleRemap(): void {
    if (this.#closed || this.#remapTimer !== undefined) return
    this.#options.cluster.refreshSlotsCache()
    this.#remapTimer = setTimeout(() => {
      this.#remapTimer = undefined
      this.#remap()
    }, this.#remapDelay)
    this.#remapTimer.unref()
    this.#remapDelay = Math.min(this.#remapDelay * 2, MAP_CHECK_MS)
  }

  readonly #onRefresh = (): void => this.#compare()

  /** Asks for a fresh slot map now and then: a failover may not have redirected any command yet. */
  #check(): void {
    this.#options.cluster.refreshSlotsCache()
    this.#compare()
  }

  /** Lays the links out again when the slot map moved under them. */
  #compare(): void {
    if (this.#closed) return
    const owners = this.#owners()
    if (owners === undefined) return
    const moved =
      owners.size !== this.#links.size ||
      [...owners].some(([master, partitions]) => {
        const link = this.#links.get(master)
        return link === undefined || !sameList(partitions, link.bus.partitions)
      })
    if (moved) this.#remap()
  }
}

const sameList = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((value, i) => value === b[i])
