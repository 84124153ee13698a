import { flag, int, parseOptions, text, UsageError } from '@strata/stack/options'

export { UsageError }

/** The checks every run makes, each against what /openapi.json promises. */
export const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'positive_data_acceptance',
  'unsupported_method',
  'allow_header_conformance',
] as const

export const HELP = `pnpm fuzz:openapi [options]

Starts a throw-away PostgreSQL, Redis and one API replica on free ports, runs schemathesis
against the replica's /openapi.json, and stops everything. Exits with schemathesis's status.

Checks: ${CHECKS.join(', ')}.

Options:
  --max-examples N   test cases per operation and phase (default 150)
  --seed N           schemathesis seed, for a reproducible run (default 1)
  --workers N        concurrent schemathesis workers (default 2)
  --install          install the pinned schemathesis into a venv under the cache dir, then exit
                     (CI's install step; needs python3 with venv and access to PyPI)
  --schemathesis P   the schemathesis executable to use (or set SCHEMATHESIS)
  -h, --help         this text

The pinned schemathesis lives in $XDG_CACHE_HOME/strata (default ~/.cache/strata).`

/** A parsed command line. */
export interface FuzzOpenApiOptions {
  help: boolean
  install: boolean
  /** @default 150 */
  maxExamples: number
  /** @default 1 */
  seed: number
  /** @default 2 */
  workers: number
  schemathesis: string | undefined
}

const OPTIONS = {
  help: flag('h'),
  install: flag(),
  'max-examples': int(150),
  seed: int(1),
  workers: int(2),
  schemathesis: text(),
} as const

/** Parses the command line; throws `UsageError` naming the bad option. */
export function parseFuzzOpenApiArgs(argv: readonly string[]): FuzzOpenApiOptions {
  const { values } = parseOptions(argv, OPTIONS)
  return {
    help: values.help,
    install: values.install,
    maxExamples: values['max-examples'],
    seed: values.seed,
    workers: values.workers,
    schemathesis: values.schemathesis,
  }
}
