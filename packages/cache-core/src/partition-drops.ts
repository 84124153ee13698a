/** What dropping partitions needs from the cache. */
export interface DropTarget {
  /** Detaches the loads in flight of these partitions' keys. */
  detachPartitions(partitions: ReadonlySet<number>): void
  /** Deletes these partitions' keys from L1. */
  sweepL1(partitions: ReadonlySet<number>): void
}

/**
 * Drops some partitions from L1: their loads at once, their L1 keys in one sweep when this turn
 * of the event loop ends, so that a clear, which comes on every partition's channel of a
 * cluster, costs one pass over L1 and not one per partition. Until the sweep the keys must not
 * be served: the owner keeps a dropped partition unsynced, and calls {@link flush} before it
 * lets any partition serve again.
 */
export class PartitionDrops {
  readonly #target: DropTarget
  readonly #unswept = new Set<number>()
  #sweep: NodeJS.Immediate | undefined

  constructor(target: DropTarget) {
    this.#target = target
  }

  drop(partitions: readonly number[]): void {
    const dropped = new Set(partitions)
    this.#target.detachPartitions(dropped)
    for (const p of dropped) this.#unswept.add(p)
    this.#sweep ??= setImmediate(() => this.flush())
  }

  /** Sweeps L1 now. */
  flush(): void {
    clearImmediate(this.#sweep)
    this.#sweep = undefined
    if (this.#unswept.size === 0) return
    this.#target.sweepL1(new Set(this.#unswept))
    this.#unswept.clear()
  }

  /** L1 was emptied whole: nothing is left to sweep. */
  forget(): void {
    clearImmediate(this.#sweep)
    this.#sweep = undefined
    this.#unswept.clear()
  }
}
