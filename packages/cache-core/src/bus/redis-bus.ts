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
  /** Milliseconds between PINGs on the subscriber; 0 turns it off. */
  heartbeatInterval: number
}

/**
 * Invalidation bus on Redis pub/sub, with its own subscriber connection.
 * Pub/sub is at-most-once: a subscriber that disconnects misses messages for good. So the bus
 * reports every loss of its subscription, and its owner stops serving from L1 until it is back.
 */
export class RedisBus {
  readonly #options: RedisBusOptions
  readonly #handlers: BusHandlers
  #state: BusState = 'down'
  #heartbeat: NodeJS.Timeout | undefined
  #closed = false
  #pingInFlight = false

  constructor(options: RedisBusOptions, handlers: BusHandlers) {
    this.#options = options
    this.#handlers = handlers
  }

  get state(): BusState {
    return this.#state
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
    if (this.#options.heartbeatInterval > 0) {
      this.#heartbeat = setInterval(() => this.#checkHeartbeat(), this.#options.heartbeatInterval)
      this.#heartbeat.unref()
    }
  }

  /** Publishes a message; rejects when Redis does not take it. */
  async publish(message: BusMessage): Promise<void> {
    await this.#options.publisher.publish(this.#options.channel, JSON.stringify(message))
  }

  /** Stops the heartbeat and unsubscribes; the connections themselves belong to the caller. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#heartbeat)
    // A deliberate close is not an outage: no state event.
    this.#state = 'down'
  }

  #subscribe(): void {
    this.#options.subscriber.subscribe(this.#options.channel).then(
      () => this.#setState('up'),
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

  #checkHeartbeat(): void {
    const { subscriber, heartbeatInterval } = this.#options
    if (this.#state !== 'up' || this.#pingInFlight) return
    this.#pingInFlight = true
    // No answer within one interval means the link cannot be trusted: stop serving L1 now,
    // and reconnect; the next 'ready' resubscribes.
    const giveUp = () => {
      this.#setState('down')
      subscriber.disconnect(true)
    }
    const timeout = setTimeout(giveUp, heartbeatInterval)
    subscriber.ping().then(
      () => {
        this.#pingInFlight = false
        clearTimeout(timeout)
      },
      () => {
        this.#pingInFlight = false
        clearTimeout(timeout)
        if (this.#state === 'up') giveUp()
      },
    )
  }

  #setState(state: BusState): void {
    if (this.#closed) return
    if (state === this.#state) return
    this.#state = state
    this.#handlers.onState(state)
  }
}
