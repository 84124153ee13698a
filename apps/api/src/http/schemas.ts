import { z } from '@hono/zod-openapi'

/** An OpenAPI response (or body) of JSON in `schema`. */
export const json = <T>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})

// These schemas validate requests and generate /openapi.json: one definition for both.

// In a `u` regex a surrogate pair is one code point, so this matches only unpaired halves.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

// Text PostgreSQL would not store as sent: it refuses NUL, and UTF-8 has no lone surrogates
// (they would come back as U+FFFD, and two different keys would share one row).
const storable = <T extends z.ZodString>(schema: T) =>
  schema.refine((s) => !LONE_SURROGATE.test(s), 'must be well-formed Unicode (no lone surrogates)')

/** 1–256 characters (code points, as zod and JSON Schema count), no control characters. */
export const KeySchema = storable(
  z
    .string()
    .min(1, 'must not be empty')
    .max(256, 'must be at most 256 characters')
    // The control characters (\p{Cc}) spelled as ranges: the spec publishes this pattern, and
    // a `u` flag does not survive into JSON Schema (it came out as a literal "/u" suffix).
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
    .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'must not contain control characters'),
)
  // URLs resolve "." and ".." (and %2E%2E) as path segments: GET /read/.. could never reach them.
  .refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."')
  .openapi({
    example: 'user:42',
    description: '1–256 characters, no control characters, not "." or ".."',
    not: { enum: ['.', '..'] },
  })

const Level = z.enum(['L1', 'L2', 'DB']).openapi({ description: 'The tier that answered' })

export const WriteRequest = z
  .strictObject({
    key: KeySchema,
    // A pattern rather than a refinement, so that the published spec states it too.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching NUL is the point
    value: storable(z.string().regex(/^[^\u0000]*$/, 'must not contain NUL')).openapi({
      example: 'hello',
      description: 'At most MAX_VALUE_BYTES bytes of UTF-8; no NUL characters',
    }),
    expected_version: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({
        example: 3,
        description:
          "Write only if the key's current version is this one, else 409 `VERSION_CONFLICT` " +
          "with `current_version`. The current version is the last write's, or for a deleted " +
          "key the deletion's (the `version` `/delete` answered); 0 for a key never written. " +
          'Makes a retry after 504 `OUTCOME_UNKNOWN` safe: it applies at most once.',
      }),
  })
  .openapi('WriteRequest')

export const DeleteRequest = z.strictObject({ key: KeySchema }).openapi('DeleteRequest')

export const WriteResponse = z
  .object({
    success: z.literal(true),
    key: z.string(),
    version: z.number().int().openapi({ description: 'Grows by one on every write of the key' }),
    message: z.string(),
  })
  .openapi('WriteResponse')

export const ReadResponse = z
  .object({
    success: z.literal(true),
    key: z.string(),
    value: z.string(),
    version: z.number().int(),
    created_at: z.string().openapi({ format: 'date-time' }),
    updated_at: z.string().openapi({ format: 'date-time' }),
    cache_level: Level,
    from_cache: z.boolean(),
  })
  .openapi('ReadResponse')

export const ErrorResponse = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.string().openapi({ example: 'VALIDATION_FAILED' }),
      message: z.string(),
    }),
  })
  .openapi('Error')

export const VersionConflictResponse = z
  .object({
    success: z.literal(false),
    key: z.string(),
    current_version: z
      .number()
      .int()
      .openapi({ description: "The key's current version (0: never written)" }),
    error: z.object({ code: z.literal('VERSION_CONFLICT'), message: z.string() }),
  })
  .openapi('VersionConflict')

export const KeyNotFoundResponse = z
  .object({
    success: z.literal(false),
    key: z.string(),
    message: z.literal('Key not found'),
    cache_level: Level,
    from_cache: z.boolean(),
    error: z.object({ code: z.literal('KEY_NOT_FOUND'), message: z.string() }),
  })
  .openapi('KeyNotFound')

const counters = {
  l1_size: z.number(),
  l1_max_size: z.number(),
  l1_hits: z.number(),
  l1_misses: z.number(),
  l2_hits: z.number(),
  l2_misses: z.number(),
  db_reads: z.number(),
  reads: z.number(),
  invalidations_sent: z.number(),
  invalidations_received: z.number(),
  promotions: z.number(),
  stale_sets_rejected: z.number(),
  fill_lease_waits: z.number().openapi({
    description: 'Reads that found another replica loading their key (its fill lease) and waited',
  }),
  fill_lease_fills: z.number().openapi({ description: 'Of those, served the fill from L2' }),
  fill_lease_timeouts: z.number().openapi({
    description: 'Of those, whose fill did not come in time (L2_FILL_LEASE_WAIT): they loaded',
  }),
  consistency_checks: z.number().openapi({
    description: 'Served reads sampled and re-checked against PostgreSQL (the consistency SLI)',
  }),
  consistency_stale: z.number().openapi({
    description:
      'Of those, stale: PostgreSQL held a newer version written more than the bound before the read',
  }),
}
const consistencyBound = z.number().openapi({
  description: 'The staleness bound checks are judged by, in ms (CONSISTENCY_STALENESS_BOUND)',
})
const rates = {
  l1_hit_rate: z.number().openapi({ description: 'Percent' }),
  l2_hit_rate: z.number().openapi({ description: 'Percent' }),
  combined_hit_rate: z.number().openapi({ description: 'Percent: (l1_hits + l2_hits) / reads' }),
}

/** A replica's recent invalidation lag (`recent-lag.ts`): what the live dashboard shows. */
const recentLag = {
  invalidation_lag_p50_ms: z.number().nullable().optional().openapi({
    description: 'Median invalidation lag of the last 10 s, ms; null when none was heard',
  }),
  invalidation_lag_max_ms: z.number().nullable().optional().openapi({
    description: 'Largest invalidation lag of the last 10 s, ms; null when none was heard',
  }),
}

export const CacheStatsResponse = z
  .object({
    replica_id: z.string(),
    cache_mode: z.string(),
    ...counters,
    ...rates,
    write_fills: z.number().openapi({
      description: "L2 sets this replica's writes sent to fill their committed rows (write path)",
    }),
    bus_state: z.enum(['up', 'down', 'off']),
    redis_errors: z.number(),
    generation: z.number(),
    cluster: z.object({
      replicas: z.array(
        z.object({
          ...recentLag,
          replica_id: z.string(),
          cache_mode: z.string(),
          bus_state: z.string(),
          updated_at: z.number(),
          ...counters,
          consistency_bound_ms: consistencyBound,
        }),
      ),
      totals: z.object({
        replicas: z.number(),
        ...counters,
        ...rates,
        consistency_nines: z
          .number()
          .nullable()
          .openapi({
            description:
              'The SLI as nines within the bound: −log10(consistency_stale / consistency_checks), ' +
              'two decimals; 6 when no check was stale (or under one in a million); null before any check',
          }),
        consistency_bound_ms: consistencyBound.openapi({
          description: "The widest of the replicas' bounds, in ms",
        }),
      }),
      error: z.string().optional(),
    }),
  })
  .openapi('CacheStats')

export const HealthResponse = z
  .object({
    status: z.enum(['healthy', 'degraded']),
    // The original design's fields, derived from `checks`.
    database: z.enum(['connected', 'disconnected']),
    l1_cache: z.enum(['active', 'bypassed', 'disabled']),
    l2_cache: z.enum(['connected', 'disconnected', 'scripts-missing', 'disabled']),
    replica_id: z.string(),
    cache_mode: z.string(),
    draining: z.boolean(),
    checks: z.object({
      database: z.object({ status: z.enum(['up', 'down']), latency_ms: z.number().optional() }),
      l1: z.enum(['serving', 'bypassed', 'off']),
      l2: z.enum(['up', 'down', 'scripts-missing', 'off']),
      bus: z.enum(['up', 'down', 'off']),
    }),
  })
  .openapi('Health')

export const ProbeResponse = z.object({ status: z.string() }).openapi('Probe')

export const MessageResponse = z
  .object({ success: z.literal(true), message: z.string() })
  .openapi('Message')
