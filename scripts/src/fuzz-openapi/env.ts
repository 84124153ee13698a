import { homedir } from 'node:os'
import { join } from 'node:path'

/** What `pnpm fuzz:openapi` takes from the environment. Only this file reads `process.env`. */
export interface FuzzOpenApiEnvironment {
  /** `SCHEMATHESIS`: a schemathesis executable to use instead of the cached one. */
  schemathesis: string | undefined
  /** Where the pinned schemathesis venv lives: `$XDG_CACHE_HOME/strata` or `~/.cache/strata`. */
  cacheDir: string
  /** The environment the API process inherits (its own variables are set over it). */
  baseEnv: Readonly<Record<string, string | undefined>>
}

/** Reads the environment once. */
export function readFuzzOpenApiEnvironment(
  source: Record<string, string | undefined> = process.env,
): FuzzOpenApiEnvironment {
  const cacheRoot = source.XDG_CACHE_HOME || join(source.HOME || homedir(), '.cache')
  return {
    schemathesis: source.SCHEMATHESIS || undefined,
    cacheDir: join(cacheRoot, 'strata'),
    baseEnv: source,
  }
}
