import { hostname } from 'node:os'
import { CACHE_MODES, SCRIPTS_MODES } from '@strata/cache-core'
import { z } from 'zod'

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback)
const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback)
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes')

/** Every environment variable the API reads, with its default. Only this file reads process.env. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(1).max(65_535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  REPLICA_ID: z
    .string()
    .regex(/^[\w.:-]{1,64}$/, 'letters, digits, _ . : - only, at most 64')
    .default(hostname()),
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/ })
    .default('postgres://postgres@127.0.0.1:5436/postgres'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6383'),
  // Seed nodes of a Redis Cluster: comma-separated redis:// URLs (the first one's user and
  // password are used on every node). When set, the API runs on the cluster (sharded L2 and
  // sharded pub/sub) and REDIS_URL is not read. docs/scaling-out.md.
  REDIS_CLUSTER_NODES: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((url) => url.trim())
        .filter((url) => url !== ''),
    )
    .pipe(z.array(z.url({ protocol: /^rediss?$/ })).min(1, 'at least one redis:// URL'))
    .optional(),
  CACHE_MODE: z.enum(CACHE_MODES as ['multi', 'l2', 'l1', 'none']).default('multi'),
  // cache-core's `l2.scripts`: `preloaded` sends EVALSHA only, for a Redis user without +eval
  // whose scripts an admin loads after every Redis start (docs/operations.md).
  REDIS_SCRIPTS: z.enum(SCRIPTS_MODES as ['eval', 'preloaded']).default('eval'),
  L1_CACHE_SIZE: z.coerce.number().int().positive().default(1000),
  L1_CACHE_TTL: seconds(60),
  // Bytes, as L1 weighs a value: twice its serialized size (the value, and the rendered answer
  // the L1 fast path keeps beside it) plus 512.
  L1_MAX_BYTES: bytes(64 * 1024 * 1024),
  L1_MAX_ENTRY_BYTES: bytes(512 * 1024),
  // Serialized bytes: a larger value is not cached in L2 (nor, so, in L1): served from PostgreSQL.
  L2_MAX_ENTRY_BYTES: bytes(256 * 1024),
  L2_CACHE_TTL: seconds(300),
  NEGATIVE_CACHE_TTL: seconds(5),
  // Seconds a read that finds another replica loading its key (the key's fill lease) waits for
  // that fill before loading itself (cache-core's `l2.fillLeaseWait`). 0 turns fill leases off.
  L2_FILL_LEASE_WAIT: z.coerce.number().nonnegative().max(10).default(0.05),
  // Seconds a bus heartbeat, once back, lets L1 serve (cache-core's `busLease`): the staleness
  // bound when the bus link goes silent without closing. 0 turns the lease off.
  BUS_LEASE: z.coerce.number().nonnegative().max(60).default(0.06),
  // The consistency SLI (docs/operations.md#consistency-sli): at most this many served reads a
  // second are re-checked against PostgreSQL, 0 = off; of the reads, this share is sampled first.
  CONSISTENCY_CHECKS_PER_SECOND: z.coerce.number().int().nonnegative().max(1000).default(20),
  CONSISTENCY_SAMPLE_SHARE: z.coerce.number().positive().max(1).default(0.01),
  // Seconds between a sampled read and its re-check.
  CONSISTENCY_CHECK_DELAY: z.coerce.number().nonnegative().max(10).default(0.1),
  // Seconds of staleness beyond which a checked read counts as stale: guarantee 3's bound.
  CONSISTENCY_STALENESS_BOUND: z.coerce.number().positive().max(60).default(0.1),
  DB_POOL_MAX_SIZE: z.coerce.number().int().positive().max(1000).default(10),
  // Accepted for compatibility with the original design; postgres.js opens connections lazily.
  DB_POOL_MIN_SIZE: z.coerce.number().int().nonnegative().optional(),
  // Seconds one PostgreSQL round trip may take before its connection is dropped (fractions allowed).
  DB_QUERY_TIMEOUT: z.coerce.number().positive().max(3600).default(2),
  // A bearer token as RFC 6750 spells it (what a client can send after "Bearer "), or the
  // header parser of /clear-cache could never accept it.
  ADMIN_TOKEN: z
    .string()
    .min(16, 'at least 16 characters')
    .regex(/^[A-Za-z0-9._~+/-]+=*$/, 'letters, digits and . _ ~ + / - only (then = padding)')
    .optional(),
  // Live dashboard streams (/dashboard/events) open at once on a replica; one more is answered
  // 503 DASHBOARD_FULL. 0 refuses every stream (the page then shows it cannot connect).
  DASHBOARD_MAX_CLIENTS: z.coerce.number().int().nonnegative().max(1000).default(16),
  MAX_VALUE_BYTES: z.coerce.number().int().positive().default(1_048_576),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  // Off by default: nginx, in front of every deployment we ship, already logs each request with
  // its request id and cache level, and a second line per request costs ~30% of L1-hit throughput.
  ACCESS_LOG: flag(false),
  SHUTDOWN_TIMEOUT: seconds(10),
  // Seconds between readiness turning false and the listener closing, for load balancers to notice.
  DRAIN_DELAY: z.coerce.number().nonnegative().max(60).default(0),
  // OpenTelemetry traces, exported over OTLP/HTTP (JSON) when either endpoint is set; off (and
  // free) otherwise. The SDK reads the other OTEL_* variables it knows (OTEL_BSP_*, headers).
  // docs/observability.md#traces.
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(256).default('strata-api'),
})

/** The parsed configuration. Times are converted to milliseconds where the code uses them. */
export type Env = z.infer<typeof envSchema>

/** Parses an environment; returns every problem at once, each naming its variable. */
export function parseEnv(
  source: Record<string, string | undefined>,
): { ok: true; env: Env } | { ok: false; problems: string[] } {
  // An empty variable means "not set", as shells and compose files commonly produce.
  const cleaned = Object.fromEntries(
    Object.entries(source).filter(([, v]) => v !== undefined && v !== ''),
  )
  const parsed = envSchema.safeParse(cleaned)
  if (parsed.success) {
    if (
      parsed.data.DB_POOL_MIN_SIZE !== undefined &&
      parsed.data.DB_POOL_MIN_SIZE > parsed.data.DB_POOL_MAX_SIZE
    ) {
      return { ok: false, problems: ['DB_POOL_MIN_SIZE: must not exceed DB_POOL_MAX_SIZE'] }
    }
    return { ok: true, env: parsed.data }
  }
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?')
    const given = cleaned[name]
    const shown =
      name === 'ADMIN_TOKEN' || name.endsWith('_URL') ? '(hidden)' : JSON.stringify(given)
    return `${name}: ${issue.message}${given === undefined ? '' : ` (got ${shown})`}`
  })
  return { ok: false, problems }
}

/** Reads process.env once; on a bad value prints every problem and exits with status 2. */
export function loadEnv(): Env {
  const result = parseEnv(process.env)
  if (result.ok) return result.env
  console.error(`Invalid configuration:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`)
  process.exit(2)
}
