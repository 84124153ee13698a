/** Base class of every error cache-core throws: each carries a stable `code` and, where known, a `cause`. */
export class StrataError extends Error {
  static readonly code: string = 'E_STRATA'
  readonly code: string

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = (new.target as typeof StrataError).code
  }
}

/** An option was given a value it cannot take. The message names the option and the value. */
export class InvalidOptionError extends StrataError {
  static override readonly code = 'E_INVALID_OPTION'

  constructor(
    readonly option: string,
    readonly value: unknown,
    expected: string,
  ) {
    super(`Invalid option "${option}": expected ${expected}, got ${describe(value)}`)
  }
}

/**
 * An invalidation could not be made durable (the L2 fence or the bus publish failed).
 * The caller must not acknowledge the write it belongs to: other replicas may not have heard of it.
 */
export class InvalidationError extends StrataError {
  static override readonly code = 'E_INVALIDATION_FAILED'

  constructor(
    readonly key: string,
    readonly version: number,
    cause: unknown,
    reason = cause instanceof ScriptNotLoadedError ? cause.message : 'Redis is unavailable',
  ) {
    const shown = key.length > 100 ? `${key.slice(0, 100)}…` : key
    super(`Could not invalidate "${shown}" at version ${version}: ${reason}`, { cause })
  }
}

/** A cluster-wide clear could not reach Redis. Nothing was cleared outside this instance. */
export class ClearError extends StrataError {
  static override readonly code = 'E_CLEAR_FAILED'

  constructor(cause: unknown) {
    super('Could not clear the cache cluster-wide: Redis is unavailable', { cause })
  }
}

/**
 * Redis cannot run one of Strata's scripts: it does not hold it (`NOSCRIPT`, e.g. after a
 * restart, with `l2.scripts: 'preloaded'`), or refused to take it from this client (`NOPERM` on
 * the `EVAL` fallback of `'eval'`). An admin must load the scripts (`loadScripts()`); meanwhile
 * L2 is skipped and invalidations are refused, as when Redis is down. Redis did answer, so this
 * does not count as Redis hanging.
 */
export class ScriptNotLoadedError extends StrataError {
  static override readonly code = 'E_SCRIPT_NOT_LOADED'

  constructor(
    readonly script: string,
    readonly sha: string,
    cause: unknown,
  ) {
    const reply = (cause instanceof Error ? cause.message.split('\n')[0] : String(cause)) ?? ''
    super(
      // Redis's own reply ends with a full stop, or not: this message goes on after one.
      `Redis cannot run Strata's script ${script} (${sha}): ${reply.replace(/\.?$/, '.')} Load the scripts as a Redis admin after every Redis start (loadScripts(), or deploy/redis/load-scripts.sh; see docs/operations.md)`,
      { cause },
    )
  }
}

/** The cache was used after `close()`. */
export class ClosedError extends StrataError {
  static override readonly code = 'E_CLOSED'

  constructor() {
    super('The cache is closed')
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  return typeof value
}

/** Why an invalidation or a clear is refused without being sent. */
export const REDIS_NOT_ANSWERING = new Error(
  'Redis is not answering (a recent command got no answer); refused until a PING gets through',
)
