import type { L2Record } from '../stores/l2-record.js'
import type { FillLeaseState, L2Store } from '../stores/l2-store.js'

/** A promise with its resolve and reject exposed, to order events in tests without sleeps. */
export interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

/** Creates a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** A held L2 call: `reached` resolves once Redis has answered; the caller sees it after `release()`. */
export interface HeldCall {
  reached: Promise<void>
  release(): void
}

type Holdable = 'get' | 'syncGeneration' | 'set'

/**
 * Wraps an L2 store so a test can hold the next GET (or generation read) between Redis's reply
 * and the cache seeing it, or make every call fail, to force interleavings and outages
 * deterministically.
 * @example const l2 = new ControllableL2Store(); createTieredCache({ ..., wrapL2: l2.wrap })
 */
export class ControllableL2Store implements L2Store {
  #inner: L2Store | undefined
  readonly #held = new Map<Holdable, { reached: () => void; gate: Promise<void> }>()
  /** When set, every call rejects with this error without reaching Redis. */
  failWith: Error | undefined
  /** How many reads (`get`) and sets the cache has made through this store. */
  readonly calls = { get: 0, set: 0 }
  #loseNextFenceReply: Error | undefined

  /** Pass as `wrapL2`. */
  readonly wrap = (store: L2Store): L2Store => {
    this.#inner = store
    return this
  }

  /** Holds the next `get()` after it has read from Redis. */
  holdNextGet(): HeldCall {
    return this.#holdNext('get')
  }

  /**
   * The next `fence()` reaches Redis, which installs the fence, and then rejects with `error` as
   * if its reply had been lost (a timeout): the write is refused although its fence went up.
   */
  loseNextFenceReply(error = new Error('Command timed out')): void {
    this.#loseNextFenceReply = error
  }

  /** Holds the next `syncGeneration()` after it has read (and repaired) the generation. */
  holdNextSyncGeneration(): HeldCall {
    return this.#holdNext('syncGeneration')
  }

  /** Holds the next `set()` before it is sent to Redis: `reached` resolves when the cache calls it. */
  holdNextSet(): HeldCall {
    return this.#holdNext('set')
  }

  async get(key: string): Promise<L2Record | undefined> {
    this.calls.get++
    const record = await this.#store().get(key)
    await this.#pass('get')
    return record
  }

  async set(...args: Parameters<L2Store['set']>): Promise<boolean> {
    this.calls.set++
    await this.#pass('set')
    return await this.#store().set(...args)
  }

  async fence(...args: Parameters<L2Store['fence']>): Promise<void> {
    await this.#store().fence(...args)
    const lost = this.#loseNextFenceReply
    this.#loseNextFenceReply = undefined
    if (lost) throw lost
  }

  async unfence(...args: Parameters<L2Store['unfence']>): Promise<boolean> {
    return await this.#store().unfence(...args)
  }

  async takeFillLease(
    ...args: Parameters<Required<L2Store>['takeFillLease']>
  ): Promise<FillLeaseState> {
    const take = this.#store().takeFillLease
    if (!take) throw new Error('ControllableL2Store: the wrapped store has no fill leases')
    return await take.apply(this.#inner, args)
  }

  async dropFillLease(key: string, token: string): Promise<void> {
    await this.#store().dropFillLease?.(key, token)
  }

  async syncGeneration(known: number, fresh: number): Promise<number> {
    const generation = await this.#store().syncGeneration(known, fresh)
    await this.#pass('syncGeneration')
    return generation
  }

  async bumpGeneration(known: number): Promise<number> {
    return await this.#store().bumpGeneration(known)
  }

  #holdNext(call: Holdable): HeldCall {
    const reached = deferred()
    const gate = deferred()
    this.#held.set(call, { reached: () => reached.resolve(), gate: gate.promise })
    return { reached: reached.promise, release: () => gate.resolve() }
  }

  async #pass(call: Holdable): Promise<void> {
    const held = this.#held.get(call)
    if (!held) return
    this.#held.delete(call)
    held.reached()
    await held.gate
  }

  #store(): L2Store {
    if (this.failWith) throw this.failWith
    if (!this.#inner) throw new Error('ControllableL2Store: pass `wrap` as the wrapL2 option first')
    return this.#inner
  }
}
