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
  const get = (name: string) => {
    const value = process.env[name]
    return value === undefined || value === '' ? undefined : value
  }
  return {
    databaseUrl: get('DATABASE_URL'),
    invocationDir: get('INIT_CWD') ?? process.cwd(),
    ci: get('CI') !== undefined && get('CI') !== 'false',
    all: { ...process.env },
  }
}
