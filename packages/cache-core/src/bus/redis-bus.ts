import type { Redis } from 'ioredis'
import { type BusMessage, parseBusMessage } from './messages.js'

/** `up` while subscribed; anything else means messages may be missed. */
export type BusState = 'up' | 'down'

/** What the bus tells its owner. All callbacks run synchronously on the subscriber's event loop turn. */
export interface BusHandlers {
  /** A parsed message from another instance. */
  onMessage(message: BusMessage): void
  /** The subscription came up (after every (re)subscribe) or went down. */
  onState(state: BusState): void
  /** A payload that failed to parse; it was dropped. */
  onMalformed(raw: string, error: string): void
  /**
   * The lease lapsed (`false`: no PING answered recently enough, so messages may be held up
   * somewhere) or was renewed (`true`). Only reported while the bus is up.
   */
  onLease(held: boolean): void
}

/** Options of `redisBus()`. */
export interface RedisBusOptions {
  /** A connection used only for SUBSCRIBE; the bus owns its listeners. */
  subscriber: Redis
  /** The command connection PUBLISH goes through. */
  publisher: Redis
  channel: string
  /** This instance's id: messages carrying it are skipped. */
  origin: string
  /** A PING unanswered for this long, in milliseconds, means the link is dead: reconnect. 0 turns it off. */
  heartbeatInterval: number
  /**
   * Milliseconds an answered PING vouches for the link, counted from when it was sent; 0 turns
   * leases off. With a lease, PINGs go out every quarter of it.
   */
  lease: number
}

/**
 * Invalidation bus on Redis pub/sub, with its own subscriber connection.
 * Pub/sub is at-most-once: a subscriber that disconnects misses messages for good. So the bus
 * reports every loss of its subscription, and its owner stops serving from L1 until it is back.
 *
 * A connection can also go silent without closing (a network partition, a frozen Redis):
 * messages are then held up, not lost. The lease covers that case. Redis answers a PING on the
 * subscriber connection only after pushing every message published before the PING arrived,
 * and TCP keeps them in order, so a PONG proves that every invalidation published before the
 * PING was sent has been applied. The bus holds a lease until `sent + lease`; when no PONG
 * renews it in time, the owner stops serving L1 (keeping its entries: nothing was lost) until
 * one does. A PING unanswered for `heartbeatInterval` means the link is dead: it reconnects.
 */
export class RedisBus {
  readonly #options: RedisBusOptions
  readonly #handlers: BusHandlers
  #state: BusState = 'down'
  #ticker: NodeJS.Timeout | undefined
  #closed = false
  /** When the PING in flight was sent; undefined when none is. */
  #pingSentAt: number | undefined
  #leaseUntil = 0
  #leaseHeld = false

  constructor(options: RedisBusOptions, handlers: BusHandlers) {
    this.#options = options
    this.#handlers = handlers
  }

  get state(): BusState {
    return this.#state
  }

  /** True while up and, with leases on, a recent enough PING was answered. */
  get leaseHeld(): boolean {
    return this.#state === 'up' && (this.#options.lease === 0 || this.#leaseHeld)
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

  /** Publishes a message; rejects when Redis does not take it. */
  async publish(message: BusMessage): Promise<void> {
    await this.#options.publisher.publish(this.#options.channel, JSON.stringify(message))
  }

  /** Stops the heartbeat and unsubscribes; the connections themselves belong to the caller. */
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
        // The confirmation vouches for the link like a PONG does.
        this.#leaseUntil = sentAt + this.#options.lease
        this.#leaseHeld = true
        this.#setState('up')
      },
      // The connection dropped while subscribing; the next 'ready' tries again.
      () => this.#setState('down'),
    )
  }

  #receive(raw: string): void {
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
    const { subscriber, heartbeatInterval, lease } = this.#options
    const now = performance.now()
    if (lease > 0 && this.#leaseHeld && now >= this.#leaseUntil) {
      this.#leaseHeld = false
      this.#handlers.onLease(false)
    }
    if (this.#pingSentAt !== undefined) {
      // No answer for a whole interval: the link cannot be trusted. Stop serving L1 now and
      // reconnect; the next 'ready' resubscribes.
      if (heartbeatInterval > 0 && now - this.#pingSentAt >= heartbeatInterval) this.#giveUp()
      return
    }
    const sentAt = now
    this.#pingSentAt = sentAt
    subscriber.ping().then(
      () => {
        if (this.#pingSentAt !== sentAt) return // given up or resubscribed since
        this.#pingSentAt = undefined
        this.#renew(sentAt)
      },
      () => {
        if (this.#pingSentAt !== sentAt) return
        this.#pingSentAt = undefined
        if (this.#state === 'up') this.#giveUp()
      },
    )
  }

  /** A PING sent at `sentAt` was answered: everything published before then has arrived. */
  #renew(sentAt: number): void {
    const { lease } = this.#options
    if (lease === 0) return
    this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + lease)
    // An answer so late that its lease is already over vouches for nothing current.
    if (!this.#leaseHeld && this.#state === 'up' && performance.now() < this.#leaseUntil) {
      this.#leaseHeld = true
      this.#handlers.onLease(true)
    }
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
      this.#pingSentAt = undefined
    }
    this.#handlers.onState(state)
  }
}
