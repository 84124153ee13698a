import { CACHE_MODES as CORE_CACHE_MODES } from '@strata/cache-core'
import { describe, expect, it } from 'vitest'
import { type CliEnvironment, parseCommandLine } from './command-line.js'
import {
  CACHE_MODES,
  NGINX_DEFAULTS,
  REPO_ROOT,
  redisBoundPorts,
  redisPorts,
  resolveStackConfig,
} from './config.js'

it("the stack's cache modes are cache-core's", () => {
  expect([...CACHE_MODES]).toEqual([...CORE_CACHE_MODES])
})

const env = (overrides: Partial<CliEnvironment> = {}): CliEnvironment => ({
  databaseUrl: undefined,
  redisUrl: undefined,
  adminToken: undefined,
  nginx: {},
  invocationDir: '/somewhere',
  all: {},
  ...overrides,
})

describe('parseCommandLine', () => {
  it('uses the documented defaults', () => {
    const { command, config } = parseCommandLine(['up'], env())
    expect(command).toBe('up')
    expect(config).toMatchObject({
      replicas: 3,
      mode: 'multi',
      lb: 'round-robin',
      nginxPort: 8005,
      replicaPortBase: 8101,
      redisTopology: 'single',
      redisPort: 6383,
      redisMaxMemory: '256mb',
      postgresPort: 5436,
      dataDir: `${REPO_ROOT}/.data`,
      durable: true,
    })
  })

  it('reads every flag, in both --flag value and --flag=value forms', () => {
    const { config } = parseCommandLine(
      [
        'start',
        '--replicas=5',
        '--mode',
        'l2',
        '--lb=key-affinity',
        '--nginx-port',
        '9005',
        '--replica-port-base=9101',
        '--redis-port',
        '7383',
        '--postgres-port',
        '6436',
        '--redis-max-memory=2gb',
        '--data-dir',
        'tmp/stack',
      ],
      env(),
    )
    expect(config).toMatchObject({
      replicas: 5,
      mode: 'l2',
      lb: 'key-affinity',
      nginxPort: 9005,
      replicaPortBase: 9101,
      redisPort: 7383,
      postgresPort: 6436,
      redisMaxMemory: '2gb',
      // Relative to where the user ran pnpm, not to the repository root pnpm runs scripts in.
      dataDir: '/somewhere/tmp/stack',
    })
  })

  it('takes external servers and the admin token from the environment', () => {
    const { config } = parseCommandLine(
      ['up'],
      env({ databaseUrl: 'postgres://db/x', redisUrl: 'redis://r:1', adminToken: 't'.repeat(16) }),
    )
    expect(config).toMatchObject({
      databaseUrl: 'postgres://db/x',
      redisUrl: 'redis://r:1',
      adminToken: 'tttttttttttttttt',
    })
  })

  it('shows help for --help and for no command at all', () => {
    expect(parseCommandLine(['up', '--help'], env()).command).toBe('help')
    expect(parseCommandLine([], env()).command).toBe('help')
  })

  it.each([
    [['frob'], /unknown command "frob"/],
    [['up', '--bogus', '1'], /^Unknown option '--bogus' \(see --help\)$/],
    [['up', '--replicas'], /Option '--replicas <value>' argument missing/],
    [['up', '--replicas', 'three'], /--replicas: expected a whole number/],
    [['up', '--replicas', '0'], /--replicas: expected a whole number ≥ 1/],
    [['up', '--replicas', '65'], /--replicas: must be a whole number from 1 to 64/],
    [['up', '--mode', 'l3'], /--mode: must be one of multi, l2, l1, none/],
    [['up', '--lb', 'random'], /--lb: must be one of round-robin, key-affinity/],
    [['up', '--nginx-port', '70000'], /--nginx-port: must be a port/],
    [['up', '--nginx-port', '8102'], /--nginx-port: falls in the replica ports 8101-8103/],
    [['up', '--redis-port', '5436'], /--postgres-port: .*also given to --redis-port/],
    [['up', 'down'], /unexpected argument "down"/],
    [['up', '--redis', 'sentinel'], /--redis: must be one of single, cluster/],
    [['up', '--redis-max-memory', '2 GB'], /--redis-max-memory: must be a size/],
    [['up', '--redis-max-memory', '0'], /--redis-max-memory: must be a size/],
    // A cluster's six nodes, 8099-8104, reach into the replicas' ports.
    [['up', '--redis', 'cluster', '--redis-port', '8099'], /--redis-port: falls in the replica/],
    [['up', '--redis', 'cluster', '--postgres-port', '6388'], /--postgres-port: .*--redis-port/],
    // …and so do their bus ports, 10000 above.
    [['up', '--redis', 'cluster', '--postgres-port', '16384'], /--postgres-port: .*--redis-port/],
    [['up', '--redis', 'cluster', '--redis-port', '55531'], /--redis-port: leaves no room/],
  ])('rejects %j, naming the problem', (argv, message) => {
    expect(() => parseCommandLine(argv, env())).toThrow(message)
  })

  it('starts a Redis Cluster on --redis-port and the five ports after it, each with its bus port', () => {
    const { config } = parseCommandLine(['up', '--redis', 'cluster', '--redis-port=7000'], env())
    expect(config.redisTopology).toBe('cluster')
    expect(redisPorts(config)).toEqual([7000, 7001, 7002, 7003, 7004, 7005])
    expect(redisBoundPorts(config)).toEqual([
      7000, 7001, 7002, 7003, 7004, 7005, 17000, 17001, 17002, 17003, 17004, 17005,
    ])
    expect(redisBoundPorts(resolveStackConfig({ redisPort: 7000 }))).toEqual([7000])
  })

  it('refuses a cluster with REDIS_URL: the stack starts and owns the cluster', () => {
    expect(() =>
      parseCommandLine(['up', '--redis', 'cluster'], env({ redisUrl: 'redis://r:1' })),
    ).toThrow(/--redis: starts its own Redis Cluster; unset REDIS_URL/)
  })

  it('lets an external server keep a port the stack no longer binds', () => {
    const { config } = parseCommandLine(
      ['up', '--redis-port', '8005'],
      env({ redisUrl: 'redis://r:1' }),
    )
    expect(config.redisUrl).toBe('redis://r:1')
  })

  it('takes the nginx limits from --rate-limit and the STRATA_* variables, defaulting the rest', () => {
    const { config } = parseCommandLine(
      ['up', '--rate-limit', 'off'],
      env({
        nginx: {
          STRATA_RATE_LIMIT: 'on',
          STRATA_WRITE_RATE: '5',
          STRATA_CLIENT_HEADER_TIMEOUT: '3',
          STRATA_CONN_LIMIT: '16',
          STRATA_OPS_RATE: '2',
        },
      }),
    )
    expect(config.nginx).toEqual({
      ...NGINX_DEFAULTS,
      rateLimit: false,
      writeRate: 5,
      clientHeaderTimeout: 3,
      connLimit: 16,
      opsRate: 2,
    })
    expect(
      parseCommandLine(['up'], env({ nginx: { STRATA_RATE_LIMIT: 'off' } })).config.nginx.rateLimit,
    ).toBe(false)
    expect(parseCommandLine(['up'], env()).config.nginx).toEqual(NGINX_DEFAULTS)
  })

  it('names the option or variable of a bad nginx setting', () => {
    expect(() => parseCommandLine(['up', '--rate-limit', 'maybe'], env())).toThrow(
      /--rate-limit: expected on or off/,
    )
    expect(() => parseCommandLine(['up'], env({ nginx: { STRATA_WRITE_RATE: '1.5' } }))).toThrow(
      /STRATA_WRITE_RATE: expected a whole number \(got "1.5"\)/,
    )
    expect(() => parseCommandLine(['up'], env({ nginx: { STRATA_SEND_TIMEOUT: '0' } }))).toThrow(
      /STRATA_SEND_TIMEOUT: must be a whole number from 1/,
    )
  })
})
