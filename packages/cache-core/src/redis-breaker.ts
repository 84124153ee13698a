import { type Cluster, type Redis, ReplyError } from 'ioredis'
import { ScriptNotLoadedError } from './errors.js'

/**
 * Stops the cache from sending commands to a Redis that has stopped answering.
 *
 * Why: a Redis that hangs (frozen, or a silent network) keeps its connection open, so every
 * command waits for the full command timeout before failing. Under load that piles requests
 * up: each L2 read would cost a timeout, each write another. After the first command on a
 * ready connection fails without an answer, the breaker opens: L2 is skipped and
 * invalidations are refused at once. One PING at a time probes Redis; the first answer (or
 * any answered command) closes the breaker.
 */
export class RedisBreaker {
  readonly #redis: Redis | Cluster
  readonly #probeInterval: number
  readonly #onChange: (open: boolean) => void
  #open = false
  #scriptsMissing = false
  #stopped = false
  #retry: NodeJS.Timeout | undefined

  constructor(redis: Redis | Cluster, probeInterval: number, onChange: (open: boolean) => void) {
    this.#redis = redis
    this.#probeInterval = probeInterval
    this.#onChange = onChange
  }

  /** True while Redis is skipped. */
  get open(): boolean {
    return this.#open
  }

  /**
   * Reports how the last script call went: run, or refused for want of the script. Missing
   * scripts (`REDIS_SCRIPTS=preloaded` after a restart or a `SCRIPT FLUSH`) skip L2 and refuse
   * writes as surely as a Redis that is down, but waiting does not help: an admin must load them.
   */
  readonly scriptsAnswered = (loaded: boolean): void => {
    this.#scriptsMissing = !loaded
  }

  /** L2 as `health()` reports it: down while the connection is not ready or Redis hangs. */
  l2State(): 'up' | 'down' | 'scripts-missing' {
    if (this.#open || this.#redis.status !== 'ready') return 'down'
    return this.#scriptsMissing ? 'scripts-missing' : 'up'
  }

  /**
   * Reports a failed command. It opens the breaker when the connection looked ready and yet
   * got no answer (a timeout): a hang. An error reply proves Redis alive (a script it does not
   * hold included: probing would not load it), and a connection that is not ready fails every
   * command at once anyway (no offline queue), so neither opens it.
   */
  failed(error: unknown): void {
    const answered = error instanceof ReplyError || error instanceof ScriptNotLoadedError
    if (answered || this.#open || this.#stopped) return
    if (this.#redis.status !== 'ready') return
    this.#open = true
    this.#onChange(true)
    this.#probe()
  }

  /** Reports a command that Redis answered: it is back, whatever the probe says. */
  succeeded(): void {
    if (!this.#open || this.#stopped) return
    clearTimeout(this.#retry)
    this.#open = false
    this.#onChange(false)
  }

  /** The connection is ready again: probe now instead of at the next retry. */
  reconnected(): void {
    if (!this.#open || this.#stopped) return
    clearTimeout(this.#retry)
    this.#probe()
  }

  /** Stops probing (the cache is closing). */
  stop(): void {
    this.#stopped = true
    clearTimeout(this.#retry)
  }

  #probe(): void {
    if (this.#stopped) return
    this.#redis.ping().then(
      () => this.succeeded(),
      () => {
        if (this.#stopped) return
        this.#retry = setTimeout(() => this.#probe(), this.#probeInterval)
        this.#retry.unref()
      },
    )
  }
}
