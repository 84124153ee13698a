import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { type Cluster, type Redis, ReplyError } from 'ioredis'
import { ScriptNotLoadedError } from '../errors.js'

/**
 * How the cache runs its Lua scripts on Redis.
 * - `eval`: `EVALSHA`, and on `NOSCRIPT` the script itself with `EVAL` (which caches it). The
 *   Redis user needs `+eval`, which lets it run any Lua, for as long as it likes.
 * - `preloaded`: `EVALSHA` only. A Redis admin loads the scripts ({@link loadScripts}) after
 *   every Redis start; until then nothing is cached in L2 (no set runs) and invalidations are
 *   refused. The user needs
 *   `+evalsha` only: it can run Strata's scripts and nothing else.
 */
export type ScriptsMode = 'eval' | 'preloaded'

/** The modes, for validation and help texts. */
export const SCRIPTS_MODES: readonly ScriptsMode[] = ['eval', 'preloaded']

/** One of Strata's scripts: its name, its Lua source and the SHA1 Redis knows it by. */
export interface StrataScript {
  readonly name: string
  readonly lua: string
  readonly sha: string
}

// The Lua lives in plain files (packages/cache-core/lua, shipped with the package) so that an
// admin can load it without Node (deploy/redis/load-scripts.sh): one source of truth for both.
// The path holds from src/stores under tsx and from dist/stores once built.
const LUA_DIR = new URL('../../lua/', import.meta.url)

function script(file: string): StrataScript {
  const lua = readFileSync(new URL(file, LUA_DIR), 'utf8')
  return { name: file, lua, sha: createHash('sha1').update(lua, 'utf8').digest('hex') }
}

/**
 * Every script the Redis store runs. Each touches one key (KEYS[1]), but for the fill lease,
 * which touches a key's entry and its lease: two keys in one hash slot (see `Partitioning`).
 */
export const STRATA_SCRIPTS = {
  set: script('set.lua'),
  fence: script('fence.lua'),
  unfence: script('unfence.lua'),
  syncGeneration: script('sync-generation.lua'),
  bumpGeneration: script('bump-generation.lua'),
  fillLease: script('fill-lease.lua'),
} as const satisfies Record<string, StrataScript>

/**
 * Loads Strata's scripts into Redis (`SCRIPT LOAD`), on a connection allowed to (an admin's:
 * the cache's own user should not be, since SCRIPT LOAD accepts any Lua). Redis forgets them
 * when it restarts, so run this after every start. Idempotent. Resolves with their SHA1s.
 * Given a cluster client, loads them on every node it knows, replicas included: a replica that
 * a failover promotes must already hold them.
 * @example await loadScripts(new Redis(process.env.REDIS_ADMIN_URL))
 */
export async function loadScripts(admin: Redis | Cluster): Promise<string[]> {
  if (admin.isCluster) {
    const nodes = (admin as Cluster).nodes('all')
    const loaded = await Promise.all(nodes.map((node) => loadScripts(node)))
    return loaded[0] ?? []
  }
  const shas: string[] = []
  for (const { name, lua, sha } of Object.values(STRATA_SCRIPTS)) {
    const loaded = String(await admin.script('LOAD', lua))
    if (loaded !== sha) throw new Error(`Redis loaded ${name} as ${loaded}, expected ${sha}`)
    shas.push(sha)
  }
  return shas
}

const isReply = (error: unknown, code: string): boolean =>
  error instanceof ReplyError && error instanceof Error && error.message.startsWith(code)

/**
 * Runs a script on its keys (one, or several in one hash slot). A script Redis does not hold, or
 * will not take from this client, becomes a {@link ScriptNotLoadedError} that says what to do.
 */
export async function runScript(
  redis: Redis | Cluster,
  mode: ScriptsMode,
  { name, lua, sha }: StrataScript,
  keys: string | readonly string[],
  args: (string | number)[],
): Promise<unknown> {
  const named = typeof keys === 'string' ? [keys] : keys
  try {
    return await redis.evalsha(sha, named.length, ...named, ...args)
  } catch (error) {
    if (!isReply(error, 'NOSCRIPT')) throw error
    if (mode === 'preloaded') throw new ScriptNotLoadedError(name, sha, error)
  }
  try {
    return await redis.eval(lua, named.length, ...named, ...args)
  } catch (error) {
    if (isReply(error, 'NOPERM')) throw new ScriptNotLoadedError(name, sha, error)
    throw error
  }
}
