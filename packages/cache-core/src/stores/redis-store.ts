import type { Redis } from 'ioredis'
import { decodeL2Record, encodeL2Record, type L2Record } from '../entry.js'
import type { L2Store } from './l2-store.js'

// Both scripts touch exactly one key, so they run unchanged on Redis Cluster.
// GETRANGE reads only the version prefix: a 1 MiB value is never copied into Lua.

/** KEYS[1] key; ARGV: version, encoded record, ttl ms. Returns 1 when installed, 0 when refused. */
const SET_IF_NOT_OLDER = `
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
local ttl = tonumber(ARGV[3])
if head ~= '' then
  local current = tonumber(string.match(head, '^(%d+):'))
  if current and current > tonumber(ARGV[1]) then return 0 end
  local left = redis.call('PTTL', KEYS[1])
  if left > ttl then ttl = left end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
return 1
`

/** KEYS[1] key; ARGV: version, encoded fence, ttl ms. Keeps a newer record if one is there. */
const FENCE = `
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
if head ~= '' then
  local current = tonumber(string.match(head, '^(%d+):'))
  if current and current > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`

interface ScriptedRedis extends Redis {
  strataSet(key: string, version: number, encoded: string, ttlMs: number): Promise<number>
  strataFence(key: string, version: number, encoded: string, ttlMs: number): Promise<number>
}

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /** The command connection. */
  redis: Redis
  /** Namespace of every key: user keys live under `<prefix>:k:`, metadata under `<prefix>:m:`. */
  prefix: string
}

/** L2 on Redis: versioned entries, fences checked atomically by Lua, a generation for clear. */
export class RedisStore implements L2Store {
  readonly #redis: ScriptedRedis
  readonly #keyPrefix: string
  readonly #generationKey: string

  constructor(options: RedisStoreOptions) {
    const redis = options.redis as ScriptedRedis
    if (typeof redis.strataSet !== 'function') {
      redis.defineCommand('strataSet', { numberOfKeys: 1, lua: SET_IF_NOT_OLDER })
      redis.defineCommand('strataFence', { numberOfKeys: 1, lua: FENCE })
    }
    this.#redis = redis
    // The fixed `k:` and `m:` segments keep user keys from ever naming a metadata key.
    this.#keyPrefix = `${options.prefix}:k:`
    this.#generationKey = `${options.prefix}:m:generation`
  }

  async get(key: string): Promise<L2Record | undefined> {
    const raw = await this.#redis.get(this.#keyPrefix + key)
    return raw === null ? undefined : decodeL2Record(raw)
  }

  async set(key: string, record: L2Record, ttlMs: number): Promise<boolean> {
    const encoded = encodeL2Record(record)
    return (
      (await this.#redis.strataSet(this.#keyPrefix + key, record.version, encoded, ttlMs)) === 1
    )
  }

  async fence(key: string, version: number, generation: number, ttlMs: number): Promise<void> {
    const encoded = encodeL2Record({ kind: 'fence', version, generation })
    await this.#redis.strataFence(this.#keyPrefix + key, version, encoded, ttlMs)
  }

  async readGeneration(): Promise<number> {
    return Number((await this.#redis.get(this.#generationKey)) ?? 0)
  }

  async bumpGeneration(): Promise<number> {
    return this.#redis.incr(this.#generationKey)
  }
}
