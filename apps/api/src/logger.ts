import { pino } from 'pino'
import type { Env } from './env.js'

/** JSON logs in production; human-readable in development (pino-pretty, when installed). */
export function createLogger(env: Pick<Env, 'LOG_LEVEL' | 'NODE_ENV' | 'REPLICA_ID'>) {
  const pretty = env.NODE_ENV === 'development' && process.stdout.isTTY
  return pino({
    level: env.LOG_LEVEL,
    base: { replica: env.REPLICA_ID },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  })
}

export type Logger = ReturnType<typeof createLogger>
