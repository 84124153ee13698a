import type { Redis } from 'ioredis'
import {
  type BusMessage,
  HEARTBEAT_PREFIX,
  heartbeatPayload,
  parseBusMessage,
  wallClockMs,
} from './messages.js'

/** `up` while subscribed; anything else means messages may be missed. */
export type BusState = 'up' | 'down'

/** What the bus tells its owner. All callbacks run synchronously on the subscriber's event loop turn. */
export interface BusHandlers {
  /** A parsed message from another instance. */
  onMessage(message: BusMessage): void
  /** The subscription came up (after every (re)subscribe) or went down. */
  onState(state: BusState): void
  /** A payload on the channel that failed to parse. */
  onMalformed(raw: string, error: string): void
  /**
   * The lease was granted or renewed: every message published before `until - lease` has been
   * delivered. `until` is on the `performance.now()` clock. Only reported while the bus is up.
   */
  onLease(until: number): void
  /** A tick found the lease over with no renewal (its holder should already have stopped). */
  onLeaseLapsed(): void
}

/** Options of the bus. */
export interface RedisBusOptions {
  /** A connection used only for SUBSCRIBE; the bus owns its listeners. */
  subscriber: Redis
  /** The command connection PUBLISH goes through, heartbeats included. */
  publisher: Redis
  channel: string
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
 */
export class RedisBus {
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

  constructor(options: RedisBusOptions, handlers: BusHandlers) {
    this.#options = options
    this.#handlers = handlers
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
    const { subscriber, channel } = this.#options
    subscriber.on('ready', () => this.#subscribe())
    subscriber.on('close', () => this.#setState('down'))
    subscriber.on('end', () => this.#setState('down'))
    subscriber.on('message', (from: string, raw: string) => {
      if (from === channel) this.#receive(raw)
    })
    if (subscriber.status === 'ready') this.#subscribe()
    const { lease, heartbeatInterval } = this.#options
    const every = lease > 0 ? Math.max(1, Math.floor(lease / 4)) : heartbeatInterval
    if (every > 0) {
      this.#ticker = setInterval(() => this.#tick(), every)
      this.#ticker.unref()
    }
  }

  /** Publishes a message stamped with its `publishedAt`; rejects when Redis does not take it. */
  async publish(message: BusMessage): Promise<void> {
    const stamped: BusMessage = { ...message, publishedAt: wallClockMs() }
    await this.#options.publisher.publish(this.#options.channel, JSON.stringify(stamped))
  }

  /** Stops the heartbeat; the connections themselves belong to the caller. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#ticker)
    // A deliberate close is not an outage: no state event.
    this.#state = 'down'
  }

  #subscribe(): void {
    const sentAt = performance.now()
    this.#options.subscriber.subscribe(this.#options.channel).then(
      () => {
        // Everything published after Redis took the SUBSCRIBE reaches this connection; what came
        // before is what the owner's empty L1 makes up for. So the confirmation vouches like an echo.
        this.#leaseUntil = sentAt + this.#options.lease
        this.#leaseHeld = true
        this.#setState('up')
      },
      // The connection dropped while subscribing; the next 'ready' tries again.
      () => this.#setState('down'),
    )
  }

  #receive(raw: string): void {
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
    this.#handlers.onMessage(parsed.message)
  }

  #tick(): void {
    if (this.#state !== 'up') return
    const { heartbeatInterval, lease } = this.#options
    const now = performance.now()
    if (lease > 0 && this.#leaseHeld && now >= this.#leaseUntil) {
      this.#leaseHeld = false
      this.#handlers.onLeaseLapsed()
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
    const { publisher } = this.#options
    publisher.publish(this.#options.channel, payload).then(
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
    this.#handlers.onLease(this.#leaseUntil)
  }

  #giveUp(): void {
    this.#setState('down')
    this.#options.subscriber.disconnect(true)
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
    this.#handlers.onState(state)
  }
}
