import { pino } from 'pino'
import type { Env } from './env.js'
import { redactSerializedError } from './redact.js'

/**
 * pino options every Strata logger shares: errors are serialized as usual, then stripped of the
 * credentials and user data that client libraries attach to them (see `redactSerializedError`).
 */
const LOGGER_OPTIONS = {
  serializers: {
    err: (error: unknown) => redactSerializedError(pino.stdSerializers.err(error as Error)),
  },
} satisfies pino.LoggerOptions

/**
 * JSON logs in production; human-readable in development (pino-pretty, when installed).
 * `destination` replaces stdout (tests capture the lines a replica writes).
 */
export function createLogger(
  env: Pick<Env, 'LOG_LEVEL' | 'NODE_ENV' | 'REPLICA_ID'>,
  destination?: pino.DestinationStream,
) {
  const options: pino.LoggerOptions = {
    ...LOGGER_OPTIONS,
    level: env.LOG_LEVEL,
    base: { replica: env.REPLICA_ID },
  }
  if (destination) return pino(options, destination)
  const pretty = env.NODE_ENV === 'development' && process.stdout.isTTY
  return pino({
    ...options,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  })
}

export type Logger = ReturnType<typeof createLogger>
