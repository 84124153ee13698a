import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { findBinary, isRoot, postgresBinDirs } from '@strata/test-servers'
import { StackError } from './errors.js'
import type { Reporter } from './reporter.js'

/** The system programs the stack runs. PostgreSQL and Redis are absent when external URLs are given. */
export interface Binaries {
  postgres: { initdb: string; postgres: string; psql: string } | undefined
  redisServer: string | undefined
  nginx: string
}

/** Which components the stack starts itself. */
export interface BinaryNeeds {
  postgres: boolean
  redis: boolean
}

// sbin directories are often missing from a non-root PATH; Homebrew's are for macOS users.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin']

interface Requirement {
  /** Debian/Ubuntu package that provides the program. */
  apt: string
  /** Homebrew formula that provides it. */
  brew: string
  find: () => string | undefined
}

const inPostgresBinDirs = (name: string) => {
  // Prefer the server's own version directory: /usr/bin/psql on Debian is a Perl wrapper.
  const own = postgresBinDirs()
    .map((dir) => `${dir}/${name}`)
    .find((path) => existsSync(path))
  return own ?? findBinary(name, EXTRA_DIRS)
}

const REQUIREMENTS = {
  initdb: { apt: 'postgresql', brew: 'postgresql@16', find: () => inPostgresBinDirs('initdb') },
  postgres: { apt: 'postgresql', brew: 'postgresql@16', find: () => inPostgresBinDirs('postgres') },
  psql: { apt: 'postgresql-client', brew: 'postgresql@16', find: () => inPostgresBinDirs('psql') },
  'redis-server': {
    apt: 'redis-server',
    brew: 'redis',
    find: () => findBinary('redis-server', EXTRA_DIRS),
  },
  nginx: { apt: 'nginx', brew: 'nginx', find: () => findBinary('nginx', EXTRA_DIRS) },
} satisfies Record<string, Requirement>
type ProgramName = keyof typeof REQUIREMENTS

/** psql, for health checks that must not install anything (`status`); undefined when absent. */
export const findPsql = (): string | undefined => REQUIREMENTS.psql.find()

/**
 * Finds every program the stack needs. When some are missing and we are root on Debian/Ubuntu,
 * installs them with apt-get (saying so first); otherwise fails with the exact command to run.
 */
export function locateBinaries(needs: BinaryNeeds, reporter: Reporter): Binaries {
  const wanted: ProgramName[] = ['nginx']
  if (needs.postgres) wanted.push('initdb', 'postgres', 'psql')
  if (needs.redis) wanted.push('redis-server')

  let missing = wanted.filter((name) => !REQUIREMENTS[name].find())
  if (missing.length > 0) {
    const apt = unique(missing.map((name) => REQUIREMENTS[name].apt))
    if (isRoot() && isDebianLike() && existsSync('/usr/bin/apt-get')) {
      reporter.step(`Missing ${missing.join(', ')}: installing ${apt.join(' ')} with apt-get`)
      reporter.info(`apt-get update && apt-get install -y --no-install-recommends ${apt.join(' ')}`)
      aptInstall(apt)
      missing = wanted.filter((name) => !REQUIREMENTS[name].find())
    }
    if (missing.length > 0) throw missingBinaries(missing)
  }

  const path = (name: ProgramName) => REQUIREMENTS[name].find() as string
  return {
    postgres: needs.postgres
      ? { initdb: path('initdb'), postgres: path('postgres'), psql: path('psql') }
      : undefined,
    redisServer: needs.redis ? path('redis-server') : undefined,
    nginx: path('nginx'),
  }
}

function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...packages]]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env })
    if (result.status !== 0) {
      throw new StackError(
        'E_MISSING_BINARY',
        `apt-get ${args.join(' ')} failed (exit status ${result.status})`,
      )
    }
  }
}

function missingBinaries(missing: ProgramName[]): StackError {
  const apt = unique(missing.map((name) => REQUIREMENTS[name].apt))
  const brew = unique(missing.map((name) => REQUIREMENTS[name].brew))
  let how: string
  if (process.platform === 'darwin') how = `brew install ${brew.join(' ')}`
  else if (isDebianLike())
    how = `${isRoot() ? '' : 'sudo '}apt-get update && ${isRoot() ? '' : 'sudo '}apt-get install -y ${apt.join(' ')}`
  else
    how = `install ${apt.join(', ')} with your package manager (Debian/Ubuntu: apt-get install -y ${apt.join(' ')})`
  return new StackError(
    'E_MISSING_BINARY',
    `missing ${missing.join(', ')}. Install with:\n  ${how}`,
  )
}

function isDebianLike(): boolean {
  try {
    const release = readFileSync('/etc/os-release', 'utf8')
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(release)
  } catch {
    return false
  }
}

const unique = (values: string[]) => [...new Set(values)]
