import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { redisUrlFor } from '@strata/test-servers'
import { readVersionedFile, writeFileAtomically } from './state.js'

/** The PostgreSQL role the replicas log in as: owner of the `strata` database, not a superuser. */
export const API_DATABASE_USER = 'strata'
/** The Redis ACL user the replicas log in as, limited by deploy/redis/api-user.acl. */
export const API_REDIS_USER = 'strata-api'

/**
 * `<data-dir>/credentials.json`: the passwords of the PostgreSQL and Redis the stack runs.
 * Generated at random on the first start, kept (mode 0600) for the next ones, never printed.
 */
export interface StackCredentials {
  version: 1
  postgres: {
    /** Of the `postgres` superuser: the stack's own set-up, health checks, load-test seeding. */
    superuserPassword: string
    /** Of {@link API_DATABASE_USER}. */
    apiPassword: string
  }
  redis: {
    /** Of Redis's `default` user, which may run every command: operators, load-test probes. */
    adminPassword: string
    /** Of {@link API_REDIS_USER}. */
    apiPassword: string
  }
}

/** 24 random bytes as base64url: 192 bits, and safe in a URL without escaping. */
const newPassword = (): string => randomBytes(24).toString('base64url')

/** Reads the credentials file; undefined when there is none. */
export function readCredentials(file: string): StackCredentials | undefined {
  return readVersionedFile<StackCredentials>(file)
}

/**
 * The stack's credentials: those of an earlier start, or fresh random ones written to `file`
 * with mode 0600 (readable by this user only). A file another user could read is narrowed to
 * 0600 and reported, since the passwords may have been seen.
 */
export function loadOrCreateCredentials(
  file: string,
  warn: (message: string) => void,
): { credentials: StackCredentials; created: boolean } {
  const existing = readCredentials(file)
  if (existing) {
    const mode = statSync(file).mode & 0o777
    if (mode & 0o077) {
      chmodSync(file, 0o600)
      warn(
        `${file} was readable by other users (mode ${mode.toString(8)}); narrowed to 600. ` +
          'Delete it together with the data directory to get new passwords.',
      )
    }
    return { credentials: existing, created: false }
  }
  const credentials: StackCredentials = {
    version: 1,
    postgres: { superuserPassword: newPassword(), apiPassword: newPassword() },
    redis: { adminPassword: newPassword(), apiPassword: newPassword() },
  }
  writeFileAtomically(file, credentials, 0o600)
  return { credentials, created: true }
}

/** Every URL of the PostgreSQL and Redis a stack started, credentials included. */
export interface StackConnectionUrls {
  /** What the replicas use: {@link API_DATABASE_USER} on the `strata` database. */
  databaseUrl: string
  /** The `postgres` superuser on the `strata` database. */
  adminDatabaseUrl: string
  /** What the replicas use: {@link API_REDIS_USER}, limited to Strata's keys and channel. */
  redisUrl: string
  /** Redis's `default` user: every command (INFO, CLIENT KILL, …). */
  adminRedisUrl: string
}

/** The URLs of a stack's own PostgreSQL and Redis on 127.0.0.1. */
export function connectionUrls(
  credentials: StackCredentials,
  ports: { postgres: number; redis: number },
  database: string,
): StackConnectionUrls {
  const pg = (user: string, password: string) =>
    `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${ports.postgres}/${database}`
  return {
    databaseUrl: pg(API_DATABASE_USER, credentials.postgres.apiPassword),
    adminDatabaseUrl: pg('postgres', credentials.postgres.superuserPassword),
    redisUrl: redisUrlFor(ports.redis, API_REDIS_USER, credentials.redis.apiPassword),
    adminRedisUrl: redisUrlFor(ports.redis, 'default', credentials.redis.adminPassword),
  }
}

/**
 * The ACL rules of {@link API_REDIS_USER}, from deploy/redis/api-user.acl (comments dropped,
 * lines joined): the one definition the stack, the compose file and the tests share.
 */
export function apiUserAclRules(rootDir: string): string {
  const file = resolve(rootDir, 'deploy/redis/api-user.acl')
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .join(' ')
}
