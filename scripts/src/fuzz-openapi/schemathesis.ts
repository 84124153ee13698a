import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { CHECKS, type FuzzOpenApiOptions } from './options.js'

/** The schemathesis release the checks were written against; installs pin it exactly. */
export const SCHEMATHESIS_VERSION = '4.32.5'

/** The venv the pinned release is installed into, under the cache dir. */
export const venvDir = (cacheDir: string) => join(cacheDir, `schemathesis-${SCHEMATHESIS_VERSION}`)

/** The command that installs the pinned release, for messages. */
export const installCommand = (cacheDir: string) =>
  `python3 -m venv ${venvDir(cacheDir)} && ${join(venvDir(cacheDir), 'bin/pip')} install schemathesis==${SCHEMATHESIS_VERSION}`

/** schemathesis is missing, or is not the pinned release. The message says how to install it. */
export class SchemathesisMissingError extends Error {
  readonly code = 'E_SCHEMATHESIS_MISSING'
}

/** The version an executable reports, or undefined when it does not run. */
function versionOf(executable: string): string | undefined {
  const result = spawnSync(executable, ['--version'], { encoding: 'utf8' })
  if (result.status !== 0) return undefined
  return /version (\S+)/.exec(result.stdout)?.[1]
}

/**
 * The schemathesis to run: the one named on the command line or in `SCHEMATHESIS`, else the
 * pinned venv in the cache dir. It must be the pinned release: another one checks differently.
 */
export function locateSchemathesis(explicit: string | undefined, cacheDir: string): string {
  const executable = explicit ?? join(venvDir(cacheDir), 'bin/schemathesis')
  const version = versionOf(executable)
  if (version === SCHEMATHESIS_VERSION) return executable
  const found = version ? `${executable} is version ${version}` : `${executable} does not run`
  throw new SchemathesisMissingError(
    `schemathesis ${SCHEMATHESIS_VERSION} is needed (${found}). Install it with:\n` +
      `  pnpm fuzz:openapi --install\nwhich runs: ${installCommand(cacheDir)}`,
  )
}

/** Installs the pinned release into the cache dir's venv unless it is already there. */
export function installSchemathesis(cacheDir: string, log: (line: string) => void): string {
  const executable = join(venvDir(cacheDir), 'bin/schemathesis')
  if (versionOf(executable) === SCHEMATHESIS_VERSION) {
    log(`schemathesis ${SCHEMATHESIS_VERSION} already installed in ${venvDir(cacheDir)}`)
    return executable
  }
  const run = (command: string, args: string[]) => {
    log(`${command} ${args.join(' ')}`)
    const result = spawnSync(command, args, { stdio: 'inherit' })
    if (result.status !== 0) {
      throw new SchemathesisMissingError(
        `"${command} ${args.join(' ')}" failed (exit ${result.status ?? result.signal}); ` +
          'schemathesis needs python3 with the venv module (Debian: apt-get install python3-venv)',
      )
    }
  }
  if (!existsSync(join(venvDir(cacheDir), 'bin/pip')))
    run('python3', ['-m', 'venv', venvDir(cacheDir)])
  run(join(venvDir(cacheDir), 'bin/pip'), [
    'install',
    '--quiet',
    '--disable-pip-version-check',
    `schemathesis==${SCHEMATHESIS_VERSION}`,
  ])
  return locateSchemathesis(undefined, cacheDir)
}

/** The schemathesis command line for one run against `base`. */
export function schemathesisArgs(
  base: string,
  options: Pick<FuzzOpenApiOptions, 'maxExamples' | 'seed' | 'workers'>,
  adminToken: string,
): string[] {
  return [
    'run',
    `${base}/openapi.json`,
    '--checks',
    CHECKS.join(','),
    '--mode',
    'all',
    '--max-examples',
    String(options.maxExamples),
    '--seed',
    String(options.seed),
    '--workers',
    String(options.workers),
    // Without it every /clear-cache case is a 401; with it the 200 path is exercised too.
    '--header',
    `Authorization: Bearer ${adminToken}`,
    '--request-timeout',
    '10',
    // An endless event stream: every case would run into the request timeout.
    '--exclude-path',
    '/dashboard/events',
    // The seed alone decides the cases: no example database carried between runs.
    '--generation-database',
    'none',
    '--no-color',
  ]
}
