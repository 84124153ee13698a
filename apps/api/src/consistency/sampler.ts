import type { CacheLevel } from '@strata/cache-core'
import type { CurrentVersion } from '../db/current-versions.js'
import { judge, type Verdict } from './verdict.js'

/** Options of {@link ConsistencySampler}. Times in milliseconds. */
export interface ConsistencySamplerOptions {
  /**
   * At most this many reads are checked per second (a token bucket holding one second's worth).
   * 0 turns the checks off.
   * @default 20
   */
  checksPerSecond: number
  /** Share of served reads sampled, before the rate limit: 0.01 = one read in a hundred, on average. */
  sampleShare: number
  /** How long after a sampled read its key is re-read from PostgreSQL. */
  delayMs: number
  /** Staleness beyond which a read counts as stale. */
  boundMs: number
  /** Reads the current versions of `keys` from PostgreSQL (one query per batch). */
  readCurrent(keys: readonly string[]): Promise<Map<string, CurrentVersion>>
  /** Hears every verdict, off the request path (metrics). */
  onVerdict?(verdict: Verdict, level: CacheLevel): void
  /** Hears every sample not checked: its queue was full, or its check failed. */
  onDropped?(reason: 'queue-full' | 'check-failed'): void
}

/** One sampled read waiting for its check. */
interface Sample {
  key: string
  version: number
  level: CacheLevel
  at: number
}

/** The countdown's value while checks are off: never reaches 0 in practice, and stays a small integer. */
const OFF = 2 ** 30
/** Keys re-read in one query at most. */
const MAX_BATCH = 100

/**
 * Samples served reads and re-reads their keys from PostgreSQL a little later, off the request
 * path, to judge whether each read was consistent within the bound ({@link judge}).
 *
 * The read path pays one decrement per read ({@link tick}): no clock read, no allocation. Only a
 * read whose countdown hits 0 is recorded, and the countdown starts again from a random gap
 * averaging 1 / `sampleShare` reads (random, so a workload that cycles through keys is not
 * sampled on the same keys). Recorded samples pass a token bucket of `checksPerSecond`, then wait
 * in a queue bounded to about two seconds of checks beyond the delay; when it is full the sample
 * is dropped and counted. One batch query runs at a time, so a slow database fills the queue
 * instead of piling up queries.
 */
export class ConsistencySampler {
  readonly boundMs: number
  readonly #options: ConsistencySamplerOptions
  readonly #meanGap: number
  readonly #queueLimit: number
  readonly #queue: Sample[] = []
  #countdown: number
  #tokens: number
  #refilledAt = 0
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = false
  /** Running totals, for the cluster view. */
  checks = 0
  stale = 0
  dropped = 0

  constructor(options: ConsistencySamplerOptions) {
    this.#options = options
    this.boundMs = options.boundMs
    const on = options.checksPerSecond > 0 && options.sampleShare > 0
    this.#meanGap = on ? Math.max(1, Math.round(1 / options.sampleShare)) : 0
    this.#queueLimit = Math.max(
      8,
      Math.ceil(options.checksPerSecond * (options.delayMs / 1000 + 2)),
    )
    this.#tokens = options.checksPerSecond
    this.#countdown = this.#nextGap()
  }

  /**
   * Called once per served read, before or after its lookup: true when this read is sampled
   * (then call {@link sample} with what it served). One decrement unless sampled.
   */
  tick(): boolean {
    if (--this.#countdown > 0) return false
    this.#countdown = this.#nextGap()
    return this.#meanGap > 0
  }

  /** Records a read {@link tick} chose: `at` is `performance.now()` when the read began. */
  sample(key: string, version: number, level: CacheLevel, at: number): void {
    if (this.#stopped || !this.#takeToken()) return
    if (this.#queue.length >= this.#queueLimit) {
      this.#drop('queue-full', 1)
      return
    }
    this.#queue.push({ key, version, level, at })
    if (this.#queue.length === 1 && this.#running === undefined) this.#arm()
  }

  /** Stops checking: pending samples are forgotten, a check under way is waited for. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#queue.length = 0
    await this.#running
  }

  /** Random gap in 1 … 2·mean − 1 reads (mean `meanGap`); {@link OFF} while off. */
  #nextGap(): number {
    if (this.#meanGap === 0) return OFF
    return 1 + Math.floor(Math.random() * (2 * this.#meanGap - 1))
  }

  #takeToken(): boolean {
    const now = performance.now()
    const rate = this.#options.checksPerSecond
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilledAt) * rate) / 1000)
    this.#refilledAt = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  #drop(reason: 'queue-full' | 'check-failed', count: number): void {
    this.dropped += count
    for (let i = 0; i < count; i++) this.#options.onDropped?.(reason)
  }

  /** Sets the timer for the oldest sample's check. */
  #arm(): void {
    const head = this.#queue[0]
    if (head === undefined || this.#stopped) return
    const wait = Math.max(0, head.at + this.#options.delayMs - performance.now())
    this.#timer = setTimeout(() => {
      this.#running = this.#checkDue().finally(() => {
        this.#running = undefined
        this.#arm()
      })
    }, wait)
    this.#timer.unref()
  }

  /** Checks every sample that is due (up to a batch) in one query. Never rejects. */
  async #checkDue(): Promise<void> {
    const dueBy = performance.now() - this.#options.delayMs
    let count = 0
    while (count < this.#queue.length && count < MAX_BATCH) {
      if ((this.#queue[count] as Sample).at > dueBy) break
      count++
    }
    const batch = this.#queue.splice(0, count)
    if (batch.length === 0) return
    let current: Map<string, CurrentVersion>
    try {
      current = await this.#options.readCurrent(batch.map((s) => s.key))
    } catch {
      this.#drop('check-failed', batch.length)
      return
    }
    const answeredAt = performance.now()
    for (const sample of batch) {
      const row = current.get(sample.key)
      if (row === undefined) {
        this.#drop('check-failed', 1)
        continue
      }
      const verdict = judge(sample, { ...row, answeredAt }, this.boundMs)
      this.checks++
      if (verdict.result === 'stale') this.stale++
      this.#options.onVerdict?.(verdict, sample.level)
    }
  }
}
