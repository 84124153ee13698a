import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi'
import { absent, type Loaded } from '@strata/cache-core'
import type { AppEnv } from '../app-env.js'
import { CommitOutcomeUnknownError } from '../db/client.js'
import type { StoredRecord } from '../db/records.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { jsonBody } from '../http/json-body.js'
import { keyNotFound, readResponse } from '../http/read-response.js'
import { createRouter } from '../http/router.js'
import {
  DeleteRequest,
  ErrorResponse,
  json,
  KeyNotFoundResponse,
  KeySchema,
  ReadResponse,
  VersionConflictResponse,
  WriteRequest,
  WriteResponse,
} from '../http/schemas.js'

const writeErrors = {
  400: json(ErrorResponse, 'Malformed JSON, invalid UTF-8 or invalid fields'),
  413: json(ErrorResponse, 'Body or value too large'),
  415: json(ErrorResponse, 'Content-Type is not application/json'),
  503: json(ErrorResponse, 'Redis or PostgreSQL unavailable; nothing was changed'),
  504: json(
    ErrorResponse,
    '`OUTCOME_UNKNOWN`: the connection to PostgreSQL failed after COMMIT was sent, so the ' +
      'change may or may not have been applied (the invalidation went out before COMMIT). ' +
      'Read the key before retrying; a write can retry safely with `expected_version`',
  ),
}

const writeRoute = createRoute({
  method: 'post',
  path: '/write',
  summary: 'Write a key',
  description:
    'Upserts the row (its version grows by one) and invalidates every cached copy before the ' +
    'commit, then fills L2 with the committed row, so reads need not load it from the database. ' +
    'If Redis cannot take the invalidation ' +
    'the write is refused with 503 and nothing changes. With `expected_version` it applies only ' +
    'if the key is at that version (compare-and-set). Every database round trip has a deadline ' +
    '(`DB_QUERY_TIMEOUT`): a failure before COMMIT answers 503, at or after it 504.',
  request: { body: { content: { 'application/json': { schema: WriteRequest } }, required: true } },
  responses: {
    200: json(WriteResponse, 'Committed'),
    409: json(
      VersionConflictResponse,
      '`expected_version` is not the current version; nothing was written',
    ),
    ...writeErrors,
  },
})

const readRoute = createRoute({
  method: 'get',
  path: '/read/{key}',
  summary: 'Read a key',
  description: 'Reads through L1 → L2 → PostgreSQL. `X-Cache-Level` says which tier answered.',
  request: { params: z.object({ key: KeySchema.openapi({ param: { name: 'key', in: 'path' } }) }) },
  responses: {
    200: json(ReadResponse, 'Found'),
    400: json(ErrorResponse, 'Invalid key'),
    404: json(KeyNotFoundResponse, 'No such key (misses are cached briefly; a write ends that)'),
    503: json(
      ErrorResponse,
      'PostgreSQL unavailable (down, or no answer within `DB_QUERY_TIMEOUT`) and the key is not cached',
    ),
  },
})

const deleteRoute = createRoute({
  method: 'post',
  path: '/delete',
  summary: 'Delete a key',
  description: 'Removes the row and invalidates the key on every replica.',
  request: { body: { content: { 'application/json': { schema: DeleteRequest } }, required: true } },
  responses: {
    200: json(WriteResponse, 'Deleted; `version` is the version of the deletion'),
    404: json(KeyNotFoundResponse, 'No such key'),
    ...writeErrors,
  },
})

/** `/write`, `/read/{key}`, `/delete`. */
export function recordRoutes(deps: Deps): OpenAPIHono<AppEnv> {
  const app = createRouter()
  const { cache, records, metrics, env, consistency } = deps

  /**
   * Runs a write whose `beforeCommit` announces `key`, then evicts it locally once committed (a
   * load that started between the announcement and the commit read the old row, and reads from
   * now on must not join it: read-your-writes).
   *
   * A write that took longer than `maxWriteTime` from its announcement to its commit announces
   * itself again before it is acknowledged: had Redis lost its data (and the write's fence) in
   * between, the replicas' quarantine, which lasts `maxWriteTime`, may be over, and one of them
   * may have cached the row this write replaced. If that second announcement fails, the write is
   * committed but coherence cannot be promised: it is answered as of unknown outcome.
   */
  async function announced<R extends { version: number } | undefined>(
    key: string,
    write: (beforeCommit: (version: number) => Promise<void>) => Promise<R>,
    committedRecord: (result: NonNullable<R>) => NonNullable<Loaded<StoredRecord>>,
  ): Promise<R> {
    let announcedAt = 0
    let announced: number | undefined
    let result: R
    try {
      result = await write((version) => {
        announcedAt = performance.now()
        announced = version
        // The fence takes the key's fill lease for this write, which fills L2 once committed.
        const invalidate = () => cache.invalidate(key, version, { fill: true })
        return deps.tracing ? deps.tracing.fence(key, version, invalidate) : invalidate()
      })
    } catch (error) {
      // Not committed (or not known to be): readers must not wait for a fill that never comes.
      if (announced !== undefined) cache.uncommitted(key, announced)
      // COMMIT sent, answer lost: PostgreSQL may apply it late. Announce it again once it answers.
      if (error instanceof CommitOutcomeUnknownError && announced !== undefined) {
        deps.unknownOutcomes.add(key, announced)
      }
      throw error
    }
    if (result === undefined) return result
    cache.evictLocal(key, result.version)
    if (performance.now() - announcedAt > deps.maxWriteTime) {
      try {
        await cache.invalidate(key, result.version, { fill: true })
      } catch (error) {
        throw new ApiError(
          'OUTCOME_UNKNOWN',
          'The write committed late, and its invalidation could not be confirmed; read the key',
          { cause: error },
        )
      }
    }
    // The writer fills L2 with what it committed, so no replica loads it. Not awaited: the
    // answer does not wait for an optimisation (the set goes out on the next socket write, and a
    // reader that comes first waits on the write's fill lease). It never rejects.
    void cache.committed(key, committedRecord(result as NonNullable<R>))
    return result
  }
  const guardBody = jsonBody(env.MAX_VALUE_BYTES + 64 * 1024)
  app.on('POST', ['/write', '/delete'], guardBody)

  app.openapi(writeRoute, async (c) => {
    const { key, value, expected_version } = c.req.valid('json')
    if (Buffer.byteLength(value) > env.MAX_VALUE_BYTES) {
      throw new ApiError('PAYLOAD_TOO_LARGE', `The value exceeds ${env.MAX_VALUE_BYTES} bytes`)
    }
    // The invalidation runs inside the transaction: if Redis refuses it, the write rolls back.
    const { version } = await announced(
      key,
      (beforeCommit) => records.upsert(key, value, beforeCommit, expected_version),
      (written) => ({
        value: { value, createdAt: written.createdAt, updatedAt: written.updatedAt },
        version: written.version,
      }),
    )
    return c.json(
      { success: true as const, key, version, message: 'Data written; cached copies invalidated' },
      200,
    )
  })

  app.openapi(readRoute, async (c) => {
    const { key } = c.req.valid('param')
    // The clock is read only for a read the consistency SLI samples: its start is what it judges.
    const sampledAt = consistency.tick() ? performance.now() : undefined
    const hit = await cache.get(key)
    metrics.countRead(hit.level)
    if (sampledAt !== undefined) consistency.sample(key, hit.version, hit.level, sampledAt)
    c.header('X-Cache-Level', hit.level)
    c.set('cacheLevel', hit.level)
    const body = readResponse(key, hit)
    return body.success ? c.json(body, 200) : c.json(body, 404)
  })

  app.openapi(deleteRoute, async (c) => {
    const { key } = c.req.valid('json')
    const deleted = await announced(
      key,
      (beforeCommit) => records.delete(key, beforeCommit),
      (gone) => absent(gone.version),
    )
    if (!deleted) return c.json(keyNotFound(key, 'DB'), 404)
    return c.json(
      {
        success: true as const,
        key,
        version: deleted.version,
        message: 'Key deleted; cached copies invalidated',
      },
      200,
    )
  })
  return app
}
