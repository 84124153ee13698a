import { setting } from '@strata/stack/cli-support'
/** The environment variables the load tools read. Only this file reads `process.env`. */
export interface LoadtestEnv {
  /** PostgreSQL to seed, when the stack's own cannot be found (`DATABASE_URL`). */
  databaseUrl: string | undefined
  /** Where `pnpm` was run from, so relative paths given on the command line resolve there. */
  invocationDir: string
  /** True in CI: progress is printed as plain lines, not redrawn. */
  ci: boolean
  /** The whole environment, passed on to the stacks the tools start (LOG_LEVEL, L1_CACHE_SIZE, …). */
  all: Readonly<Record<string, string | undefined>>
}

/** Reads the environment once. Empty variables count as unset. */
export function readLoadtestEnv(): LoadtestEnv {
  return {
    databaseUrl: setting('DATABASE_URL'),
    invocationDir: setting('INIT_CWD') ?? process.cwd(),
    ci: setting('CI') !== undefined && setting('CI') !== 'false',
    all: { ...process.env },
  }
}
