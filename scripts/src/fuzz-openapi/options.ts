import { parseArgs } from 'node:util'

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

/** A command line that cannot be run; the message says what to change. */
export class UsageError extends Error {
  readonly code = 'E_USAGE'
}

const positive = (name: string, text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`--${name} must be a positive integer (got ${JSON.stringify(text)})`)
  }
  return value
}

/** Parses the command line; throws `UsageError` naming the bad option. */
export function parseFuzzOpenApiArgs(argv: string[]): FuzzOpenApiOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        install: { type: 'boolean' },
        'max-examples': { type: 'string' },
        seed: { type: 'string' },
        workers: { type: 'string' },
        schemathesis: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; see --help`)
  }
  const text = (name: string) => values[name] as string | undefined
  return {
    help: values.help === true,
    install: values.install === true,
    maxExamples: positive('max-examples', text('max-examples'), 150),
    seed: positive('seed', text('seed'), 1),
    workers: positive('workers', text('workers'), 2),
    schemathesis: text('schemathesis'),
  }
}
