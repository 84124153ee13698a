import calculateSlot from 'cluster-key-slot'

/** Hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16_384

/**
 * How keys map to partitions, and each partition to its Redis names: its keys' prefix, its
 * generation key and its bus channel.
 *
 * On a single Redis server there is one partition, with the names Strata has always used
 * (`<prefix>:k:<key>`, `<prefix>:m:generation`, `<prefix>:bus`). On a Redis Cluster there are
 * `count` of them, each pinned to one hash slot by a hash tag: `<prefix>:{<tag>}:k:<key>`,
 * `<prefix>:{<tag>}:m:generation`, the channel `<prefix>:{<tag>}:bus` and the keys' fill leases
 * `<prefix>:{<tag>}:l:<key>` share that slot, so a key's entry, its fence, its fill lease, its
 * generation and the channel its invalidations travel on always live on one shard, and move
 * together when the slot moves. The tags are chosen so that the slots are spread evenly over the
 * slot space: the even split `redis-cli --cluster create` makes gives every master the same
 * number of partitions.
 */
export class Partitioning {
  readonly count: number
  readonly sharded: boolean
  /** The hash slot of each partition (all 0 on a single server, where slots mean nothing). */
  readonly slots: readonly number[]
  readonly #keyPrefixes: readonly string[]
  readonly #leasePrefixes: readonly string[]
  readonly #generationKeys: readonly string[]
  readonly #channels: readonly string[]

  private constructor(prefix: string, tags: readonly string[] | undefined) {
    this.sharded = tags !== undefined
    const scopes = tags === undefined ? [prefix] : tags.map((tag) => `${prefix}:{${tag}}`)
    this.count = scopes.length
    this.slots = tags === undefined ? [0] : tags.map((tag) => calculateSlot(tag))
    // The fixed `k:` and `m:` segments keep user keys from ever naming a metadata key.
    this.#keyPrefixes = scopes.map((scope) => `${scope}:k:`)
    this.#leasePrefixes = scopes.map((scope) => `${scope}:l:`)
    this.#generationKeys = scopes.map((scope) => `${scope}:m:generation`)
    this.#channels = scopes.map((scope) => `${scope}:bus`)
  }

  /** One partition with the single server's names. */
  static single(prefix: string): Partitioning {
    return new Partitioning(prefix, undefined)
  }

  /** `count` partitions, each in its own hash slot of a Redis Cluster. */
  static cluster(prefix: string, count: number): Partitioning {
    return new Partitioning(prefix, spreadTags(count))
  }

  /**
   * The partition of a user key: FNV-1a over its UTF-16 code units. Not on the L1 hit path
   * while every partition serves (the cache checks one number then), so its cost only shows on
   * misses. Every release must keep it: replicas of one deployment must agree on it.
   */
  of(key: string): number {
    if (this.count === 1) return 0
    let hash = 0x811c9dc5
    for (let i = 0; i < key.length; i++) {
      hash ^= key.charCodeAt(i)
      hash = Math.imul(hash, 0x01000193)
    }
    return (hash >>> 0) % this.count
  }

  /** The Redis key of a user key's L2 entry (and fence). */
  redisKey(key: string): string {
    return (this.#keyPrefixes[this.of(key)] as string) + key
  }

  /**
   * The Redis key of a user key's fill lease: in the same scope (and so the same hash slot) as
   * its entry, under its own `l:` segment so that it can never name another user key's entry.
   */
  leaseKey(key: string): string {
    return (this.#leasePrefixes[this.of(key)] as string) + key
  }

  generationKey(partition: number): string {
    return this.#generationKeys[partition] as string
  }

  channel(partition: number): string {
    return this.#channels[partition] as string
  }
}

/**
 * One short hash tag per partition, partition `p`'s hashing to slot `⌊(p + ½) · 16384 / count⌋`.
 * Found by trying base-36 strings in order, so every instance computes the same tags (about
 * 16384 · ln(count) tries: a few milliseconds, once per cache).
 */
function spreadTags(count: number): string[] {
  const wanted = new Map<number, number>()
  for (let p = 0; p < count; p++) wanted.set(Math.floor(((p + 0.5) * CLUSTER_SLOTS) / count), p)
  const tags = new Array<string>(count)
  let left = count
  for (let i = 0; left > 0; i++) {
    const tag = i.toString(36)
    const partition = wanted.get(calculateSlot(tag))
    if (partition === undefined) continue
    wanted.delete(calculateSlot(tag))
    tags[partition] = tag
    left--
  }
  return tags
}
