import type { Cluster, Redis } from 'ioredis'
import { ScriptNotLoadedError } from '../errors.js'
import type { Partitioning } from '../partitions.js'
import { decodeL2Record, encodeL2Record, type L2Record } from './l2-record.js'
import type {
  Announcement,
  FillLeaseRequest,
  FillLeaseState,
  L2Store,
  WriterLease,
} from './l2-store.js'
import { runScript, type ScriptsMode, STRATA_SCRIPTS, type StrataScript } from './redis-scripts.js'

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** The command connection: one server's, or a cluster client. */
  redis: Redis | Cluster
  /** The Redis names of every key and generation (see {@link Partitioning}). */
  partitioning: Partitioning
  /**
   * How scripts are sent: see {@link ScriptsMode}.
   * @default 'eval'
   */
  scripts?: ScriptsMode | undefined
  /** Told after each script call whether Redis held the script (see {@link ScriptNotLoadedError}). */
  onScripts?: ((loaded: boolean) => void) | undefined
}

/**
 * L2 on Redis: versioned entries, fences checked atomically by Lua, a generation per partition
 * for clear, fill leases. Every script touches one key, or a key and its lease (one hash slot),
 * so each runs on the shard that holds it.
 */
export class RedisStore implements L2Store {
  readonly #redis: Redis | Cluster
  readonly #scripts: ScriptsMode
  readonly #onScripts: ((loaded: boolean) => void) | undefined
  readonly #names: Partitioning

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis
    this.#scripts = options.scripts ?? 'eval'
    this.#onScripts = options.onScripts
    this.#names = options.partitioning
  }

  async get(key: string): Promise<L2Record | undefined> {
    const raw = await this.#redis.get(this.#names.redisKey(key))
    return raw === null ? undefined : decodeL2Record(raw)
  }

  async set(
    key: string,
    record: L2Record,
    ttlMs: number,
    deadline: number,
    leaseToken?: string,
  ): Promise<boolean> {
    const encoded = encodeL2Record(record)
    const keys = [this.#names.redisKey(key)]
    const args: (string | number)[] = [record.version, encoded, ttlMs, deadline]
    if (leaseToken !== undefined) {
      keys.push(this.#names.leaseKey(key))
      args.push(leaseToken)
    }
    return (await this.#run(STRATA_SCRIPTS.set, keys, args)) === 1
  }

  async fence(
    key: string,
    version: number,
    generation: number,
    nonce: string,
    ttlMs: number,
    announce: Announcement | undefined,
    lease?: WriterLease,
  ): Promise<void> {
    const encoded = encodeL2Record({ kind: 'fence', version, generation, nonce })
    const args: (string | number)[] = [version, encoded, ttlMs]
    if (announce) args.push(announce.channel, announce.payload, announce.sharded ? 1 : 0)
    const keys = [this.#names.redisKey(key)]
    if (lease) {
      if (!announce) args.push('', '', 0)
      args.push(lease.token, lease.ttlMs)
      keys.push(this.#names.leaseKey(key))
    }
    await this.#run(STRATA_SCRIPTS.fence, keys, args)
  }

  async unfence(
    key: string,
    version: number,
    generation: number,
    nonce: string,
    ttlMs: number,
  ): Promise<boolean> {
    const fence = encodeL2Record({ kind: 'fence', version, generation, nonce })
    const replacement =
      version > 1 ? encodeL2Record({ kind: 'fence', version: version - 1, generation }) : ''
    const args = [fence, replacement, ttlMs]
    return (await this.#run(STRATA_SCRIPTS.unfence, this.#names.redisKey(key), args)) === 1
  }

  async syncGeneration(known: number, fresh: number, partition = 0): Promise<number> {
    const key = this.#names.generationKey(partition)
    return Number(await this.#run(STRATA_SCRIPTS.syncGeneration, key, [known, fresh]))
  }

  async bumpGeneration(known: number, partition = 0): Promise<number> {
    const key = this.#names.generationKey(partition)
    return Number(await this.#run(STRATA_SCRIPTS.bumpGeneration, key, [known]))
  }

  async takeFillLease(key: string, request: FillLeaseRequest): Promise<FillLeaseState> {
    const { version, generation, now, token, ttlMs } = request
    const keys = [this.#names.redisKey(key), this.#names.leaseKey(key)]
    const args = ['take', version, generation, Math.floor(now), token, ttlMs]
    const state = await this.#run(STRATA_SCRIPTS.fillLease, keys, args)
    return state === 1 ? 'taken' : state === 2 ? 'filled' : 'held'
  }

  async dropFillLease(key: string, token: string): Promise<void> {
    const keys = [this.#names.redisKey(key), this.#names.leaseKey(key)]
    await this.#run(STRATA_SCRIPTS.fillLease, keys, ['drop', token])
  }

  #run(script: StrataScript, keys: string | string[], args: (string | number)[]): Promise<unknown> {
    return runScript(this.#redis, this.#scripts, script, keys, args).then(
      (result) => {
        this.#onScripts?.(true)
        return result
      },
      (error: unknown) => {
        if (error instanceof ScriptNotLoadedError) this.#onScripts?.(false)
        throw error
      },
    )
  }
}
