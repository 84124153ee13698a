import type { Redis } from 'ioredis'
import { decodeL2Record, encodeL2Record, type L2Record } from './l2-record.js'
import type { L2Store } from './l2-store.js'

// Both scripts touch exactly one key, so they run unchanged on Redis Cluster.
// GETRANGE reads only the version prefix: a 1 MiB value is never copied into Lua.

/**
 * KEYS[1] key; ARGV: version, encoded record, ttl ms, deadline (ms since the epoch). Returns 1
 * when installed, 0 when refused: a higher version is there, or the deadline has passed on
 * Redis's clock (the load is too old: the fence that would refuse it may have expired since).
 */
const SET_IF_NOT_OLDER = `
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[4]) then return 0 end
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

/**
 * KEYS[1] key; ARGV: the fence as `fence` wrote it, its replacement ('' for none), ttl ms.
 * Compares the whole record, nonce included: only the write that left the fence takes it back.
 * STRLEN first, so a large value is never copied into Lua.
 */
const UNFENCE = `
if redis.call('STRLEN', KEYS[1]) ~= string.len(ARGV[1]) then return 0 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`

/**
 * KEYS[1] generation; ARGV: the generation this instance knows (0: none), a fresh random one.
 * A missing key, or one below what an instance knew, means Redis lost data (a restart without
 * persistence, a failover to a lagging replica): it is moved past every known value, so every
 * instance sees the generation move and treats it as a loss.
 */
const SYNC_GENERATION = `
local current = tonumber(redis.call('GET', KEYS[1]))
local known = tonumber(ARGV[1])
if current == nil then
  if known > 0 then current = known + 1 else current = tonumber(ARGV[2]) end
  redis.call('SET', KEYS[1], current)
elseif current < known then
  current = known + 1
  redis.call('SET', KEYS[1], current)
end
return current
`

/** KEYS[1] generation; ARGV[1] the generation this instance knows. Never moves backwards. */
const BUMP_GENERATION = `
local current = tonumber(redis.call('GET', KEYS[1])) or 0
local known = tonumber(ARGV[1])
if current < known then current = known end
current = current + 1
redis.call('SET', KEYS[1], current)
return current
`

interface ScriptedRedis extends Redis {
  strataSet(
    key: string,
    version: number,
    encoded: string,
    ttlMs: number,
    deadline: number,
  ): Promise<number>
  strataFence(key: string, version: number, encoded: string, ttlMs: number): Promise<number>
  strataUnfence(key: string, fence: string, replacement: string, ttlMs: number): Promise<number>
  strataSyncGeneration(key: string, known: number, fresh: number): Promise<number>
  strataBumpGeneration(key: string, known: number): Promise<number>
}

/** Options of the Redis store. */
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
      redis.defineCommand('strataUnfence', { numberOfKeys: 1, lua: UNFENCE })
      redis.defineCommand('strataSyncGeneration', { numberOfKeys: 1, lua: SYNC_GENERATION })
      redis.defineCommand('strataBumpGeneration', { numberOfKeys: 1, lua: BUMP_GENERATION })
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

  async set(key: string, record: L2Record, ttlMs: number, deadline: number): Promise<boolean> {
    const encoded = encodeL2Record(record)
    const prefixed = this.#keyPrefix + key
    return (await this.#redis.strataSet(prefixed, record.version, encoded, ttlMs, deadline)) === 1
  }

  async fence(
    key: string,
    version: number,
    generation: number,
    nonce: string,
    ttlMs: number,
  ): Promise<void> {
    const encoded = encodeL2Record({ kind: 'fence', version, generation, nonce })
    await this.#redis.strataFence(this.#keyPrefix + key, version, encoded, ttlMs)
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
    return (await this.#redis.strataUnfence(this.#keyPrefix + key, fence, replacement, ttlMs)) === 1
  }

  async syncGeneration(known: number, fresh: number): Promise<number> {
    return Number(await this.#redis.strataSyncGeneration(this.#generationKey, known, fresh))
  }

  async bumpGeneration(known: number): Promise<number> {
    return Number(await this.#redis.strataBumpGeneration(this.#generationKey, known))
  }
}
