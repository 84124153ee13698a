import { LRUCache } from 'lru-cache'
import type { L2Store } from './stores/l2-store.js'

/** A fence left in Redis by a refused write: its version, generation and nonce. */
export interface LeftFence {
  version: number
  generation: number
  nonce: string
}

/**
 * The fences refused writes left in Redis, taken back (`L2Store.unfence`: only that write's
 * fence, becoming one at `version - 1`) whenever Redis answers. A refused write is usually
 * refused because Redis did not answer, so its fence may still be there, or arrive late: each
 * key is retried until Redis has answered for it. Bounded: past `max` keys the oldest is dropped
 * (its key then stays uncacheable until `fenceTtl`, never stale).
 */
export class Unfences {
  readonly #pending: LRUCache<string, LeftFence>
  readonly #store: L2Store
  readonly #fenceTtl: number
  readonly #failed: (error: unknown) => void

  constructor(store: L2Store, max: number, fenceTtl: number, failed: (error: unknown) => void) {
    this.#pending = new LRUCache<string, LeftFence>({ max })
    this.#store = store
    this.#fenceTtl = fenceTtl
    this.#failed = failed
  }

  /** Takes back `fence` under `key` now if `reachable`, else at the next {@link retry}. */
  add(key: string, fence: LeftFence, reachable: boolean): void {
    this.#pending.set(key, fence)
    if (reachable) this.retry()
  }

  /** Sends every pending unfence (call it when Redis answers again). */
  retry(): void {
    for (const [key, fence] of this.#pending.entries()) {
      this.#pending.delete(key)
      this.#store
        .unfence(key, fence.version, fence.generation, fence.nonce, this.#fenceTtl)
        .catch((error: unknown) => {
          // Still unreachable: try again when it answers, unless a newer refusal replaced it.
          if (!this.#pending.has(key)) this.#pending.set(key, fence)
          this.#failed(error)
        })
    }
  }
}
