import type { CacheLevel, Lookup } from '@strata/cache-core'
import type { StoredRecord } from '../db/records.js'

/** The 404 body of `/read` and `/delete`: the original design's fields plus the error code. */
export const keyNotFound = (key: string, level: CacheLevel) => ({
  success: false as const,
  key,
  message: 'Key not found' as const,
  cache_level: level,
  from_cache: level !== 'DB',
  error: { code: 'KEY_NOT_FOUND' as const, message: `No record for key ${JSON.stringify(key)}` },
})

/** The body `GET /read/{key}` answers for a lookup: shared by the route and the L1 fast path. */
export function readResponse(key: string, hit: Lookup<StoredRecord>) {
  if (!hit.found) return keyNotFound(key, hit.level)
  return {
    success: true as const,
    key,
    value: hit.value.value,
    version: hit.version,
    created_at: hit.value.createdAt,
    updated_at: hit.value.updatedAt,
    cache_level: hit.level,
    from_cache: hit.level !== 'DB',
  }
}
