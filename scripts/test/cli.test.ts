import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { findPsql } from '@strata/stack/binaries'
import type { StackCredentials } from '@strata/stack/credentials'
import { freeStackPorts, portOptions } from '@strata/stack/ports'
import { commandLines, liveGroupMembers, processRuns } from '@strata/stack/processes'
import type { StackState } from '@strata/stack/state'
import { makeDataDir, redisReply } from '@strata/stack/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stackCli } from './stack-cli.js'

describe('pnpm stack up | status | down', () => {
  let dataDir: string
  let ports: ReturnType<typeof portOptions>
  let flags: string[]

  beforeAll(async () => {
    dataDir = makeDataDir()
    ports = portOptions(await freeStackPorts(3))
    flags = [
      '--data-dir',
      dataDir,
      '--nginx-port',
      String(ports.nginxPort),
      '--replica-port-base',
      String(ports.replicaPortBase),
      '--redis-port',
      String(ports.redisPort),
      '--postgres-port',
      String(ports.postgresPort),
    ]
  })
  afterAll(async () => {
    // Whatever a failed assertion left running must not outlive the test run.
    await stackCli(['down', '--data-dir', dataDir])
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('starts a background stack, reports it, and down leaves no process behind', async () => {
    const up = await stackCli(['up', ...flags])
    expect(up.code, up.output).toBe(0)
    expect(up.output).toContain('Strata is up')
    expect(up.output).toContain(`http://127.0.0.1:${ports.nginxPort}`)
    expect(up.output).toContain('/clear-cache is disabled')

    // The CLI has exited; the stack keeps serving through nginx.
    const health = await fetch(`http://127.0.0.1:${ports.nginxPort}/health`)
    expect(health.status).toBe(200)

    const again = await stackCli(['up', ...flags])
    expect(again.code, again.output).toBe(0)
    expect(again.output).toContain('already running')

    const status = await stackCli(['status', '--data-dir', dataDir])
    expect(status.code, status.output).toBe(0)
    for (const name of ['postgres', 'redis', 'replica-1', 'replica-2', 'replica-3', 'nginx']) {
      expect(status.output).toMatch(new RegExp(`^${name}\\s+\\d+\\s+\\d+\\s+healthy`, 'm'))
    }
    // The URLs the replicas use, shown with the password hidden.
    expect(status.output).toContain(`postgres://strata:***@127.0.0.1:${ports.postgresPort}/strata`)
    expect(status.output).toContain(`redis://strata-api:***@127.0.0.1:${ports.redisPort}`)

    const state = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as StackState
    const pids = state.components.map((component) => component.pid)
    const secrets = passwords()
    for (const [where, text] of [
      ['stack up', up.output],
      ['stack status', status.output],
      ['stack.json', JSON.stringify(state)],
      ['the command lines', commandLines(pids).join('\n')],
      ['the logs', logs()],
    ] as const) {
      for (const secret of secrets)
        expect(text.includes(secret), `${where} shows a password`).toBe(false)
    }
    expect(pids).toHaveLength(6)
    expect(pids.every(processRuns)).toBe(true)
    // PostgreSQL's backends and nginx's workers run in their leader's process group.
    expect(pids.flatMap(liveGroupMembers).length).toBeGreaterThan(pids.length)

    const down = await stackCli(['down', '--data-dir', dataDir])
    expect(down.code, down.output).toBe(0)
    expect(pids.filter(processRuns)).toEqual([])
    expect(pids.flatMap(liveGroupMembers)).toEqual([])

    const after = await stackCli(['status', '--data-dir', dataDir])
    expect(after.code).toBe(3)
    expect(after.output).toContain('Not running')
  })

  it('keeps its generated passwords in a 600 file, reuses them, and gives the API only what it needs', async () => {
    const credentialsFile = join(dataDir, 'credentials.json')
    const before = readFileSync(credentialsFile, 'utf8')
    const up = await stackCli(['up', ...flags])
    expect(up.code, up.output).toBe(0)
    expect(up.output).not.toContain('Generated passwords')
    // Same passwords as the first start, still readable by this user only.
    expect(readFileSync(credentialsFile, 'utf8')).toBe(before)
    expect(statSync(credentialsFile).mode & 0o777).toBe(0o600)
    expect(statSync(join(dataDir, 'redis/redis.conf')).mode & 0o777).toBe(0o600)
    const credentials = JSON.parse(before) as StackCredentials

    // Redis: the API's user is held to Strata's keys, channel and commands; `default` is not.
    const api = { user: 'strata-api', password: credentials.redis.apiPassword }
    const admin = { user: 'default', password: credentials.redis.adminPassword }
    for (const command of [['FLUSHALL'], ['KEYS', '*'], ['CONFIG', 'GET', '*'], ['GET', 'other']]) {
      expect(await redisReply(ports.redisPort, api, ...command), command.join(' ')).toMatch(
        /^-NOPERM/,
      )
    }
    expect(await redisReply(ports.redisPort, api, 'GET', 'strata:m:generation')).toMatch(/^\$/)
    expect(await redisReply(ports.redisPort, admin, 'CONFIG', 'GET', 'port')).toBe('*2')
    expect(await redisReply(ports.redisPort, { ...api, password: 'wrong' }, 'PING')).toMatch(
      /^-WRONGPASS/,
    )
    expect(await redisReply(ports.redisPort, { user: 'default', password: '' }, 'PING')).toMatch(
      /^-WRONGPASS/,
    )

    // PostgreSQL: a password for every login; the API's role owns its database and is no superuser.
    expect(() => query('postgres', 'wrong', 'SELECT 1')).toThrow(/password authentication failed/)
    expect(() => query('strata', '', 'SELECT 1')).toThrow(/password/)
    expect(
      query(
        'strata',
        credentials.postgres.apiPassword,
        "SELECT rolsuper FROM pg_roles WHERE rolname = 'strata'",
      ),
    ).toBe('f')
    expect(
      query(
        'postgres',
        credentials.postgres.superuserPassword,
        "SELECT tableowner FROM pg_tables WHERE tablename = 'records'",
      ),
    ).toBe('strata')

    const down = await stackCli(['down', '--data-dir', dataDir])
    expect(down.code, down.output).toBe(0)
  })

  it('brings the data directory of an older version (trust logins, superuser tables) in line', async () => {
    const up = await stackCli(['up', ...flags])
    expect(up.code, up.output).toBe(0)
    const old = JSON.parse(
      readFileSync(join(dataDir, 'credentials.json'), 'utf8'),
    ) as StackCredentials
    const write = await fetch(`http://127.0.0.1:${ports.nginxPort}/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'survivor', value: 'kept' }),
    })
    expect(write.status).toBe(200)
    // What an older stack left: tables owned by the superuser, trust logins, no credentials file.
    query('postgres', old.postgres.superuserPassword, 'ALTER TABLE records OWNER TO postgres')
    expect((await stackCli(['down', '--data-dir', dataDir])).code).toBe(0)
    writeFileSync(join(dataDir, 'postgres/pg_hba.conf'), 'host all all 127.0.0.1/32 trust\n')
    rmSync(join(dataDir, 'credentials.json'))

    const again = await stackCli(['up', ...flags])
    expect(again.code, again.output).toBe(0)
    expect(again.output).toContain('Generated passwords')
    const fresh = JSON.parse(
      readFileSync(join(dataDir, 'credentials.json'), 'utf8'),
    ) as StackCredentials
    expect(fresh.postgres.superuserPassword).not.toBe(old.postgres.superuserPassword)
    // Logins need the new passwords now, the data is there, and the API's role owns the tables.
    expect(() => query('postgres', old.postgres.superuserPassword, 'SELECT 1')).toThrow(
      /password authentication failed/,
    )
    const read = await fetch(`http://127.0.0.1:${ports.nginxPort}/read/survivor`)
    expect(await read.json()).toMatchObject({ value: 'kept' })
    expect(
      query(
        'postgres',
        fresh.postgres.superuserPassword,
        "SELECT tableowner FROM pg_tables WHERE tablename = 'records'",
      ),
    ).toBe('strata')
    expect((await stackCli(['down', '--data-dir', dataDir])).code).toBe(0)
  })

  /** One SQL statement through psql as `user`; throws with psql's message when refused. */
  function query(user: string, password: string, sql: string): string {
    return execFileSync(
      findPsql() as string,
      [
        '-X',
        '-tA',
        '-c',
        sql,
        `host=127.0.0.1 port=${ports.postgresPort} dbname=strata user=${user}`,
      ],
      { env: { PGPASSWORD: password }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    ).trim()
  }

  /** Every password in the stack's credentials file. */
  function passwords(): string[] {
    const credentials = JSON.parse(
      readFileSync(join(dataDir, 'credentials.json'), 'utf8'),
    ) as StackCredentials
    return [...Object.values(credentials.postgres), ...Object.values(credentials.redis)]
  }

  /** Every log the stack wrote. */
  function logs(): string {
    return execFileSync(
      'cat',
      [
        ...['postgres', 'redis', 'replica-1', 'replica-2', 'replica-3', 'nginx'].map((name) =>
          join(dataDir, 'logs', `${name}.log`),
        ),
        join(dataDir, 'logs/nginx/access.log'),
        join(dataDir, 'logs/nginx/error.log'),
      ],
      { encoding: 'utf8' },
    )
  }
})
