import { randomInt } from 'node:crypto'
import type { InvalidationBus } from './bus/redis-bus.js'
import type { L2Store } from './stores/l2-store.js'

/** Where a fresh namespace's generation starts: at random, so a re-created key always moves. */
const FRESH_LIMIT = 2 ** 31

/**
 * Each partition's L2 generation as this instance last read it, and the clears heard on the
 * partition's channel that a read of its generation has yet to confirm. An L2 entry of an older
 * generation than the one its load started in is a miss: that is how a clear empties L2.
 */
export class Generations {
  readonly #known: number[]
  readonly #heard: number[]
  readonly #confirmed: number[]

  constructor(partitions: number) {
    this.#known = new Array<number>(partitions).fill(0)
    this.#heard = new Array<number>(partitions).fill(0)
    this.#confirmed = new Array<number>(partitions).fill(0)
  }

  of(partition: number): number {
    return this.#known[partition] as number
  }

  get all(): readonly number[] {
    return this.#known
  }

  /** The highest generation of any partition (the only one on a single server). */
  get highest(): number {
    return Math.max(...this.#known)
  }

  /** This instance moved each partition to `generations[p]` itself. */
  raise(generations: readonly number[]): void {
    generations.forEach((generation, p) => {
      this.#known[p] = Math.max(this.#known[p] as number, generation)
    })
  }

  /** A clear was heard on the partition's channel: its L2 waits for the generation to be read. */
  heardClear(partition: number): void {
    this.#heard[partition] = (this.#heard[partition] as number) + 1
  }

  /** Every clear heard on the partition was confirmed by a generation read sent after it. */
  confirmed(partition: number): boolean {
    return this.#heard[partition] === this.#confirmed[partition]
  }

  /**
   * Reads (and repairs) the generations of `partitions` (see `L2Store.syncGeneration`); every
   * clear heard on them before the reads were sent is confirmed. Resolves the partitions whose
   * generation moved since this instance last knew it: a clear it missed, or Redis lost data.
   * The `forced` ones move on in any case, past both Redis's and this instance's (a bump): their
   * master changed, and no L2 record of a generation from before must be served any more, not
   * even one of a clear this instance missed.
   */
  async sync(
    store: L2Store,
    partitions: readonly number[],
    forced: ReadonlySet<number> = new Set(),
  ): Promise<number[]> {
    const moved = await Promise.all(
      partitions.map(async (p) => {
        const heard = this.#heard[p] as number
        const known = this.#known[p] as number
        const generation = forced.has(p)
          ? await store.bumpGeneration(known, p)
          : await store.syncGeneration(known, 1 + randomInt(FRESH_LIMIT), p)
        this.#known[p] = Math.max(known, generation)
        this.#confirmed[p] = Math.max(this.#confirmed[p] as number, heard)
        return known > 0 && generation !== known ? p : -1
      }),
    )
    return moved.filter((p) => p >= 0)
  }
}

/**
 * Moves every partition to a new generation and announces it on the partition's own channel:
 * on a cluster each shard holds some partitions, and a replica that misses one shard's message
 * has that shard's link down, so it reads those generations again before using them. Every
 * partition is tried, whatever the others do (a shard may be failing over): resolves the
 * generations it moved (the known one where it could not) and the first failure, if any.
 */
export async function startNewGenerations(
  store: L2Store | undefined,
  bus: InvalidationBus | undefined,
  known: readonly number[],
  origin: string,
): Promise<{ generations: number[]; failure: unknown }> {
  let failure: unknown
  const fail = (error: unknown) => {
    failure ??= error
  }
  const generations = await Promise.all(
    known.map(async (generation, p) => {
      try {
        const moved = store ? await store.bumpGeneration(generation, p) : generation
        await bus?.publish(p, { v: 1, type: 'clear', generation: moved, origin })
        return moved
      } catch (error) {
        fail(error)
        return generation
      }
    }),
  )
  return { generations, failure }
}
