import { z } from 'zod'

// Bounds of the format, the same for every instance: what one sends, the others accept.
// They keep a forged message cheap: no payload is parsed past MAX_BUS_MESSAGE_LENGTH, and the
// keys a replica remembers from the bus (its local fences) are each at most MAX_KEY_LENGTH.

/** The longest key an invalidation can carry, in code points; `invalidate()` refuses longer. */
export const MAX_KEY_LENGTH = 1024
/** The longest instance id, in code points. */
export const MAX_ORIGIN_LENGTH = 256
/** The longest payload parsed, in UTF-16 code units: room for both, even fully JSON-escaped. */
export const MAX_BUS_MESSAGE_LENGTH = 16 * 1024

const key = z.string().min(1).max(MAX_KEY_LENGTH)
const origin = z.string().min(1).max(MAX_ORIGIN_LENGTH)
const counter = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
/**
 * When the sender published, in milliseconds since the epoch on its wall clock (fractional).
 * Added after `v: 1` shipped, so it is optional, and only measures the invalidation lag: a
 * missing or unreadable one is dropped (`catch`), never a reason to call the message malformed,
 * which would empty L1. Releases from before it parse it away like any unknown field.
 */
const publishedAt = z
  .number()
  .nonnegative()
  .max(Number.MAX_SAFE_INTEGER)
  .optional()
  .catch(undefined)

/** A W3C `traceparent` (version 00 format): `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
export const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/

/**
 * The trace context of the write that sent an invalidation, so that each receiver's eviction can
 * link to it (tracing only). Optional and added after `v: 1` shipped, like `publishedAt`: a
 * missing or malformed one is dropped, never a reason to call the message malformed.
 */
const traceparent = z.string().max(55).regex(TRACEPARENT).optional().catch(undefined)

/** A key was written or deleted at `version`: drop it from L1 and refuse older loads. */
const invalidateMessage = z.object({
  v: z.literal(1),
  type: z.literal('invalidate'),
  key,
  version: counter,
  origin,
  publishedAt,
  traceparent,
})

/**
 * The cache was cleared: drop all of L1. `generation` is what the sender's clear moved L2 to;
 * receivers read the generation from Redis instead of trusting it.
 */
const clearMessage = z.object({
  v: z.literal(1),
  type: z.literal('clear'),
  generation: counter,
  origin,
  publishedAt,
})

const busMessageSchema = z.discriminatedUnion('type', [invalidateMessage, clearMessage])

/**
 * Every message a replica acts on. `v` versions the format; a replica that cannot parse a
 * message on its channel (an unknown `v` or `type` from a newer release, or garbage) empties its
 * L1, since it cannot tell what that message invalidated. Unknown fields are ignored (the
 * objects are not strict): a field a newer release adds must be one an older one can go without.
 */
export type BusMessage = z.infer<typeof busMessageSchema>
export type InvalidateMessage = z.infer<typeof invalidateMessage>
export type ClearMessage = z.infer<typeof clearMessage>

/**
 * How every heartbeat starts: `{"v":1,"type":"heartbeat","origin":…,"seq":…}`. Each instance
 * publishes its own on the channel and renews its lease when it comes back (a self-echo); the
 * others' are skipped on this prefix alone, without parsing.
 */
export const HEARTBEAT_PREFIX = '{"v":1,"type":"heartbeat",'

/** The payload of heartbeat number `seq` of `origin`. Starts with {@link HEARTBEAT_PREFIX}. */
export const heartbeatPayload = (origin: string, seq: number): string =>
  JSON.stringify({ v: 1, type: 'heartbeat', origin, seq })

/**
 * This process's wall clock in milliseconds since the epoch, with sub-millisecond precision: the
 * wall-clock time the process started at plus its monotonic clock. Processes on one host share
 * both clocks, so their readings agree (unless the wall clock was stepped between their starts);
 * across hosts they differ by the hosts' clock offset.
 */
export const wallClockMs = (): number => performance.timeOrigin + performance.now()

/**
 * Seconds from a message's `publishedAt` to now, or undefined when it carries none. A receiver
 * whose clock is behind the sender's would see a negative lag: that is clock offset, not time, so
 * it reads as 0.
 */
export function lagSeconds(
  publishedAt: number | undefined,
  now = wallClockMs(),
): number | undefined {
  if (publishedAt === undefined) return undefined
  return Math.max(0, now - publishedAt) / 1000
}

/** Parses one raw bus payload; an error string says why it was rejected. */
export function parseBusMessage(
  raw: string,
): { ok: true; message: BusMessage } | { ok: false; error: string } {
  // Checked before parsing: a forged 10 MB payload costs a length check, not a JSON parse.
  if (raw.length > MAX_BUS_MESSAGE_LENGTH) {
    return { ok: false, error: `longer than ${MAX_BUS_MESSAGE_LENGTH} characters` }
  }
  let data: unknown
  try {
    data = JSON.parse(raw)
  } catch {
    return { ok: false, error: 'not JSON' }
  }
  const parsed = busMessageSchema.safeParse(data)
  if (!parsed.success)
    return { ok: false, error: parsed.error.issues[0]?.message ?? 'invalid message' }
  return { ok: true, message: parsed.data }
}

/**
 * Why an invalidation of `key` at `version` could not travel on the bus (its peers would drop
 * it as malformed), or undefined when it can. Checked with the schema the peers parse with.
 */
export function invalidationProblem(k: string, version: number): string | undefined {
  const keyCheck = key.safeParse(k)
  if (!keyCheck.success) return `key: ${keyCheck.error.issues[0]?.message}`
  const versionCheck = counter.safeParse(version)
  if (!versionCheck.success) return `version: ${versionCheck.error.issues[0]?.message}`
  return undefined
}
