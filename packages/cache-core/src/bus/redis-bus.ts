import type { Cluster, Redis } from 'ioredis'
import {
  type BusMessage,
  HEARTBEAT_PREFIX,
  heartbeatPayload,
  parseBusMessage,
  wallClockMs,
} from './messages.js'

/** `up` while subscribed; anything else means messages may be missed. */
export type BusState = 'up' | 'down'

/**
 * What a bus tells its owner. All callbacks run synchronously on the subscriber's event loop
 * turn. `link` is the subscription that reports: the only one on a single Redis server, one per
 * shard on a cluster; `link.partitions` are the partitions it carries.
 */
export interface BusHandlers {
  /** A parsed message from another instance, heard on `partition`'s channel. */
  onMessage(message: BusMessage, partition: number): void
  /** The subscription came up (after every (re)subscribe) or went down. */
  onState(link: BusLink, state: BusState): void
  /** A payload on a channel that failed to parse. */
  onMalformed(raw: string, error: string): void
  /**
   * The lease was granted or renewed: every message published before `link.leaseUntil - lease`
   * has been delivered. Only reported while the link is up.
   */
  onLease(link: BusLink): void
  /** A tick found the lease over with no renewal (its holder should already have stopped). */
  onLeaseLapsed(link: BusLink): void
}

/** One subscription, as its owner sees it. */
export interface BusLink {
  /** The partitions whose channels it listens to. */
  readonly partitions: readonly number[]
  /** The Redis node it listens on (`host:port` on a cluster; '' on a single server). */
  readonly node: string
  readonly state: BusState
  /** See {@link RedisBus.leaseUntil}. */
  readonly leaseUntil: number
}

/** Options of the bus. */
export interface RedisBusOptions {
  /** A connection used only for SUBSCRIBE (or SSUBSCRIBE); the bus owns its listeners. */
  subscriber: Redis
  /** The command connection PUBLISH (or SPUBLISH) goes through, heartbeats included. */
  publisher: Redis | Cluster
  /** Each channel listened to, and the partition it carries. Heartbeats go on the first. */
  channels: ReadonlyMap<string, number>
  /**
   * Sharded pub/sub (Redis 7 `SSUBSCRIBE`/`SPUBLISH`, on a cluster): every channel must be in a
   * slot the subscriber's node serves. The subscription then ends for good when that node goes
   * away or gives a slot up (Redis unsubscribes its channels): the bus goes down and does not
   * reconnect, since its owner must find out where the channels went.
   */
  sharded: boolean
  /** See {@link BusLink.node}. @default '' */
  node?: string
  /** This process's unique id on the bus: messages carrying it are skipped. */
  origin: string
  /**
   * A heartbeat that has not come back on the subscriber this long after it was sent, in
   * milliseconds, means the subscription is dead or Redis hangs: reconnect. A heartbeat that the
   * command connection could not even send (it is down) is not waited for. 0 turns it off.
   */
  heartbeatInterval: number
  /**
   * Milliseconds a heartbeat, once back, vouches for the link, counted from when it was sent;
   * 0 turns leases off. With a lease, heartbeats go out every quarter of it.
   */
  lease: number
}

/** What the cache needs of a bus: one subscription ({@link RedisBus}) or one per shard. */
export interface InvalidationBus {
  /** `up` while every partition's channel is subscribed. */
  readonly state: BusState
  start(): void
  /** Publishes on `partition`'s channel, stamped with `publishedAt`; rejects when Redis refuses. */
  publish(partition: number, message: BusMessage): Promise<void>
  close(): Promise<void>
}

/** How many heartbeats may await their echo; older ones are forgotten (their publish failed). */
const MAX_OUTSTANDING = 64

/**
 * Invalidation bus on Redis pub/sub, with its own subscriber connection.
 * Pub/sub is at-most-once: a subscriber that disconnects misses messages for good. So the bus
 * reports every loss of its subscription, and its owner stops serving from L1 until it is back.
 *
 * A subscription can also go silent without closing (a partition, a frozen Redis, a proxy or a
 * cluster node that stopped forwarding): messages are then held up, not lost. The lease covers
 * that case with a self-echo: the bus publishes a heartbeat on its own channel and waits for it
 * on its subscriber. Messages on one channel reach a subscriber in the order Redis took them, so
 * when the heartbeat sent at `sentAt` comes back, every invalidation published before `sentAt`
 * has been delivered, whatever sits between the publisher and the subscriber. The lease runs
 * until `sentAt + lease`. A PING on the subscriber would prove less: only that this one
 * connection is alive, not that messages published elsewhere are reaching it.
 *
 * Sharded (on a cluster), one bus listens to every channel its node serves, and one heartbeat
 * vouches for all of them: the node runs its SPUBLISHes one at a time and writes each message to
 * this connection as it runs it, so the echo comes back after every message published on that
 * node before it. A channel whose slot left the node meanwhile is unsubscribed by Redis before
 * that, and its SUNSUBSCRIBE takes this bus down (see `start`) before the echo is read.
 */
export class RedisBus implements BusLink, InvalidationBus {
  readonly #options: RedisBusOptions
  readonly #handlers: BusHandlers
  #state: BusState = 'down'
  #ticker: NodeJS.Timeout | undefined
  #closed = false
  #seq = 0
  /** Heartbeats awaiting their echo, payload → when sent; in the order sent. */
  readonly #outstanding = new Map<string, number>()
  #leaseUntil = 0
  #leaseHeld = false
  readonly partitions: readonly number[]
  readonly node: string
  readonly #heartbeatChannel: string

  constructor(options: RedisBusOptions, handlers: BusHandlers) {
    this.#options = options
    this.#handlers = handlers
    this.partitions = [...options.channels.values()]
    this.node = options.node ?? ''
    this.#heartbeatChannel = options.channels.keys().next().value ?? ''
  }

  get state(): BusState {
    return this.#state
  }

  /**
   * Until when (`performance.now()` clock) delivered messages are proven current: 0 while down,
   * Infinity while up with leases off.
   */
  get leaseUntil(): number {
    if (this.#state !== 'up') return 0
    return this.#options.lease === 0 ? Number.POSITIVE_INFINITY : this.#leaseUntil
  }

  /** Starts listening; subscribes now if the connection is ready, else as soon as it is. */
  start(): void {
    const { subscriber, channels, sharded } = this.#options
    subscriber.on('ready', () => this.#subscribe())
    subscriber.on('close', () => this.#setState('down'))
    subscriber.on('end', () => this.#setState('down'))
    subscriber.on(sharded ? 'smessage' : 'message', (from: string, raw: string) => {
      const partition = channels.get(from)
      if (partition !== undefined) this.#receive(raw, partition)
    })
    // A reply the client did not ask for: on a cluster, the SUNSUBSCRIBE Redis sends when a
    // slot leaves this node (ioredis reports it as a command queue error). Messages on that
    // channel now go elsewhere, so this subscription proves nothing any more: give it up.
    subscriber.on('error', (error: Error) => {
      if (error.message.startsWith('Command queue state error')) this.#giveUp()
    })
    if (subscriber.status === 'ready') this.#subscribe()
    const { lease, heartbeatInterval } = this.#options
    const every = lease > 0 ? Math.max(1, Math.floor(lease / 4)) : heartbeatInterval
    if (every > 0) {
      this.#ticker = setInterval(() => this.#tick(), every)
      this.#ticker.unref()
    }
  }

  /** Publishes a message on `partition`'s channel; rejects when Redis does not take it. */
  async publish(partition: number, message: BusMessage): Promise<void> {
    const { publisher, sharded, channels } = this.#options
    for (const [channel, carried] of channels) {
      if (carried === partition)
        return await publishOn(publisher, sharded, channel, stampedPayload(message))
    }
    throw new Error(`partition ${partition} has no channel on this bus`)
  }

  /** Stops the heartbeat; the connections themselves belong to the caller. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#ticker)
    // A deliberate close is not an outage: no state event.
    this.#state = 'down'
  }

  /** Goes down (its owner hears it) and stops for good: the owner moved its channels elsewhere. */
  retire(): void {
    this.#setState('down')
    void this.close()
  }

  #subscribe(): void {
    const sentAt = performance.now()
    const { subscriber, channels, sharded } = this.#options
    // SSUBSCRIBE takes channels of one slot only: one command per channel.
    const subscribed = sharded
      ? Promise.all([...channels.keys()].map((channel) => subscriber.ssubscribe(channel)))
      : subscriber.subscribe(...channels.keys())
    subscribed.then(
      () => {
        // Everything published after Redis took the SUBSCRIBE reaches this connection; what came
        // before is what the owner's empty L1 makes up for. So the confirmation vouches like an echo.
        this.#leaseUntil = sentAt + this.#options.lease
        this.#leaseHeld = true
        this.#setState('up')
      },
      // The connection dropped while subscribing, or (sharded) a slot is served elsewhere now.
      () => (sharded ? this.#giveUp() : this.#setState('down')),
    )
  }

  #receive(raw: string, partition: number): void {
    if (raw.startsWith(HEARTBEAT_PREFIX)) {
      const sentAt = this.#outstanding.get(raw)
      // Another instance's heartbeat, or a forged one: it carries nothing to act on.
      if (sentAt !== undefined) this.#echoed(raw, sentAt)
      return
    }
    const parsed = parseBusMessage(raw)
    if (!parsed.ok) {
      this.#handlers.onMalformed(raw, parsed.error)
      return
    }
    if (parsed.message.origin === this.#options.origin) return
    this.#handlers.onMessage(parsed.message, partition)
  }

  #tick(): void {
    if (this.#state !== 'up') return
    const { heartbeatInterval, lease } = this.#options
    const now = performance.now()
    if (lease > 0 && this.#leaseHeld && now >= this.#leaseUntil) {
      this.#leaseHeld = false
      this.#handlers.onLeaseLapsed(this)
    }
    // A heartbeat sent a whole interval ago never came back: the subscription is dead, or
    // Redis hangs, even if the connection looks open. Reconnect; the next 'ready' resubscribes.
    const oldest = this.#outstanding.values().next().value
    if (heartbeatInterval > 0 && oldest !== undefined && now - oldest >= heartbeatInterval) {
      this.#giveUp()
      return
    }
    this.#sendHeartbeat(now)
  }

  #sendHeartbeat(sentAt: number): void {
    const payload = heartbeatPayload(this.#options.origin, ++this.#seq)
    if (this.#outstanding.size >= MAX_OUTSTANDING) {
      const oldest = this.#outstanding.keys().next().value
      if (oldest !== undefined) this.#outstanding.delete(oldest)
    }
    this.#outstanding.set(payload, sentAt)
    const { publisher, sharded } = this.#options
    publishOn(publisher, sharded, this.#heartbeatChannel, payload).then(
      () => {},
      () => {
        // Never sent (the command connection is down): no echo is due, and none renews the
        // lease. A timeout on a connection that looks up is a hanging Redis: the echo stays due.
        if (publisher.status !== 'ready') this.#outstanding.delete(payload)
      },
    )
  }

  /** Our heartbeat sent at `sentAt` came back: everything published before then has arrived. */
  #echoed(payload: string, sentAt: number): void {
    // Heartbeats come back in the order sent: this one settles every earlier one.
    for (const sent of this.#outstanding.keys()) {
      this.#outstanding.delete(sent)
      if (sent === payload) break
    }
    const { lease } = this.#options
    if (lease === 0 || this.#state !== 'up') return
    this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + lease)
    // An echo so late that its lease is already over vouches for nothing current.
    if (performance.now() >= this.#leaseUntil) return
    this.#leaseHeld = true
    this.#handlers.onLease(this)
  }

  #giveUp(): void {
    this.#setState('down')
    // Sharded: no reconnect, the owner finds the channels' nodes again (see `sharded`).
    this.#options.subscriber.disconnect(!this.#options.sharded)
  }

  #setState(state: BusState): void {
    if (this.#closed) return
    if (state === this.#state) return
    this.#state = state
    if (state === 'down') {
      this.#leaseHeld = false
      this.#leaseUntil = 0
      this.#outstanding.clear()
    }
    this.#handlers.onState(this, state)
  }
}

/** Publishes `payload` on `channel`: `SPUBLISH` when sharded, `PUBLISH` otherwise. */
export async function publishOn(
  publisher: Redis | Cluster,
  sharded: boolean,
  channel: string,
  payload: string,
): Promise<void> {
  await (sharded ? publisher.spublish(channel, payload) : publisher.publish(channel, payload))
}

/** `message` stamped with its `publishedAt`, serialized. */
export const stampedPayload = (message: BusMessage): string =>
  JSON.stringify({ ...message, publishedAt: wallClockMs() })
