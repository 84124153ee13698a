/**
 * `pnpm compose:test`, the part that runs after deploy/compose-test.sh has an engine, the CLI
 * plugins and the stand-in base images: it builds Strata's images from deploy/Dockerfile, runs
 * the shipped deploy/docker-compose.yml (with deploy/stand-ins/compose.yml swapping the
 * registry's images only), and checks what docs/docker.md says users can do with it, through
 * nginx's published port. Every figure it prints is measured in this run.
 */

import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePortBlock } from '@strata/stack/ports'
import { CLUSTER_FILES, clusterScenarios } from './compose-test/cluster.js'
import { Compose, docker, replicaIdOf } from './compose-test/compose.js'
import { updateDocs } from './compose-test/docs.js'
import { checkFiles, SECRETS, type Secrets } from './compose-test/files.js'
import { describeFailures, Load, versionsOf, writesUnaccounted } from './compose-test/load.js'
import { checkNginxLimits, checkOpsHidden, replicaGet } from './compose-test/nginx-ops.js'
import { checkPostgresRole } from './compose-test/postgres-role.js'
import { writeThenReadEverywhere } from './compose-test/read-your-writes.js'
import { redisRestart } from './compose-test/redis-restart.js'
import {
  check,
  failures,
  figure,
  figures,
  http,
  seconds,
  sleep,
  step,
} from './compose-test/report.js'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const secret = () => randomBytes(18).toString('hex')

async function main(): Promise<number> {
  // --redis cluster: deploy/docker-compose.cluster.yml on top, and its own scenarios.
  const { redis } = parseArgs({ options: { redis: { type: 'string', default: 'single' } } }).values
  if (redis !== 'single' && redis !== 'cluster')
    throw new Error(`--redis ${redis}: expected single or cluster`)
  const cluster = redis === 'cluster'
  const project = cluster ? 'strata-compose-cluster' : 'strata-compose-test'
  const port = await freePortBlock(1)
  const base = `http://127.0.0.1:${port}`
  const secrets = Object.fromEntries(SECRETS.map((name) => [name, secret()])) as Secrets
  const compose = new Compose({
    project,
    files: [
      'deploy/docker-compose.yml',
      'deploy/stand-ins/compose.yml',
      ...(cluster ? CLUSTER_FILES : []),
    ],
    cwd: repo,
    env: {
      ...secrets,
      // Published on loopback only, on a free port: never clashes with a stack already running.
      STRATA_PORT: `127.0.0.1:${port}`,
      // One client address sends everything here, as with the load generator (see the compose
      // file's header): nginx's per-address rate limits would answer its writes 429.
      STRATA_RATE_LIMIT: 'off',
      STRATA_COMPOSE_BASE_IMAGE:
        process.env.STRATA_COMPOSE_BASE_IMAGE ?? 'localhost/debian:trixie-slim',
      STRATA_COMPOSE_STANDIN_TAG: process.env.STRATA_COMPOSE_STANDIN_TAG ?? 'trixie',
    },
  })
  // A previous run that was interrupted leaves its project behind: start from nothing.
  await compose.run(['--profile', 'loadtest', 'down', '-v', '--remove-orphans'])

  for (const line of (process.env.STRATA_COMPOSE_SETUP ?? '').split('\n').filter(Boolean)) {
    const [name, secs] = line.split('\t')
    figure(`setup: ${name}`, `${secs} s`)
  }
  try {
    if (cluster) await clusterScenarios(compose, base, repo)
    else await scenarios(compose, base, secrets)
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error))
    console.error(error)
    const logs = await compose.run(['logs', '--no-color', '--tail', '40'])
    console.error(logs.stdout.slice(-12_000))
  } finally {
    if (process.env.STRATA_COMPOSE_KEEP === '1' && failures.length > 0) {
      console.log(`\nSTRATA_COMPOSE_KEEP=1: project ${project} left running on ${base}`)
    } else {
      step('docker compose down -v')
      const down = await compose.run(['--profile', 'loadtest', 'down', '-v', '--remove-orphans'])
      check(down.code === 0, `down -v exited 0 (${seconds(down.ms)})`)
      const label = `label=com.docker.compose.project=${project}`
      const left = await Promise.all([
        docker(['ps', '-aq', '--filter', label]),
        docker(['network', 'ls', '-q', '--filter', label]),
        docker(['volume', 'ls', '-q', '--filter', label]),
      ])
      const [containers, networks, volumes] = left.map((r) => r.stdout.split('\n').filter(Boolean))
      check(
        containers?.length === 0 && networks?.length === 0 && volumes?.length === 0,
        `nothing left: ${containers?.length} containers, ${networks?.length} networks, ${volumes?.length} volumes`,
      )
    }
  }

  const started = Number(process.env.STRATA_COMPOSE_STARTED)
  if (Number.isFinite(started) && started > 0)
    figures.push(['compose:test in all', `${Math.round(Date.now() / 1000 - started)} s`])
  const kind = process.env.STRATA_COMPOSE_KIND === 'cold' ? 'cold' : 'warm'
  // The cluster run has one table: it follows the single-server run, whose setup it reuses.
  const table = cluster ? 'cluster' : kind
  step(`Figures (${cluster ? `Redis Cluster, ${kind}` : kind} run)`)
  for (const [name, value] of figures) console.log(`  ${name.padEnd(58)} ${value}`)
  const out = resolve(repo, `.data/compose-test/figures-${table}.json`)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(Object.fromEntries(figures), null, 2)}\n`)
  console.log(`  (also in ${out})`)
  const passed = figures.length > 0 && failures.length === 0
  if (passed && process.env.STRATA_COMPOSE_UPDATE_DOCS === '1') updateDocs(repo, table)
  console.log(
    passed ? '\ncompose:test passed' : `\ncompose:test FAILED:\n  ${failures.join('\n  ')}`,
  )
  return passed ? 0 : 1
}

async function scenarios(compose: Compose, base: string, secrets: Secrets): Promise<void> {
  await checkFiles(compose)

  // ---- build -------------------------------------------------------------------------------------
  step('Build Strata images from deploy/Dockerfile')
  const build = await compose.must(['--profile', 'loadtest', 'build', 'api', 'loadtest'], {
    echo: process.env.CI !== undefined,
  })
  figure('build api + loadtest images', seconds(build.ms))
  for (const image of ['localhost/strata-api:latest', 'localhost/strata-loadtest:latest']) {
    const inspect = await docker([
      'image',
      'inspect',
      '--format',
      '{{.Size}} {{.Config.User}}',
      image,
    ])
    const [size, user] = inspect.stdout.trim().split(' ')
    figure(`image size ${image}`, `${(Number(size) / 1e6).toFixed(0)} MB`)
    check(
      user !== undefined && user !== '' && user !== 'root' && user !== '0',
      `${image} runs as ${user}`,
    )
  }
  const nodeVersion = await docker([
    'run',
    '--rm',
    '--entrypoint',
    'node',
    'localhost/strata-api:latest',
    '--version',
  ])
  figure('Node in the image', nodeVersion.stdout.trim())

  // ---- nginx -t on the config users run, in the nginx container, both read routings ------------
  step('nginx -t on deploy/nginx/docker.conf (both read routings)')
  for (const upstream of ['strata_rr', 'strata_affinity']) {
    const test = await compose.run(['run', '--rm', '--no-deps', 'nginx', 'nginx', '-t'], {
      env: { STRATA_READ_UPSTREAM: upstream },
    })
    check(test.code === 0, `nginx -t with STRATA_READ_UPSTREAM=${upstream}`)
    if (test.code !== 0) console.log(test.stdout + test.stderr)
  }
  const nginxVersion = await compose.run(['run', '--rm', '--no-deps', 'nginx', 'nginx', '-v'])
  figure('nginx in CI', /nginx\/[\d.]+/.exec(nginxVersion.stderr)?.[0] ?? 'unknown')

  // ---- up --scale api=3 --------------------------------------------------------------------------
  step('up --scale api=3 (healthchecks gate start-up)')
  const up = await compose.must(['up', '-d', '--no-build', '--wait', '--scale', 'api=3'])
  figure('up --scale api=3 until every service is healthy', seconds(up.ms))
  const ids = (await compose.containerIds('api')).map(replicaIdOf)
  check(ids.length === 3, `3 api containers (${ids.join(', ')})`)
  const whoami = await docker(['exec', ids[0] ?? '', 'id', '-u'])
  check(whoami.stdout.trim() !== '0', `the API runs as uid ${whoami.stdout.trim()}, not root`)
  const hardening = await docker([
    'inspect',
    '--format',
    '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}',
    ids[0] ?? '',
  ])
  check(
    /^true \[ALL\] \[no-new-privileges:true\] [1-9]\d* [1-9]\d*$/.test(hardening.stdout.trim()),
    `the API container is read-only, without capabilities or privilege gain, memory and pids bounded (${hardening.stdout.trim()})`,
  )
  // V8's heap is capped below the container's memory, so near the cap V8 collects harder instead
  // of the kernel killing the container. Node sizes it from the cgroup's limit by itself (259 MiB
  // in a 512 MiB container, measured); this catches a NODE_OPTIONS or a Node that undoes that.
  const heap = await docker([
    'exec',
    ids[0] ?? '',
    'node',
    '-p',
    "require('node:v8').getHeapStatistics().heap_size_limit",
  ])
  const memory = Number(hardening.stdout.trim().split(' ')[3])
  const heapLimit = Number(heap.stdout.trim())
  check(
    heapLimit > 0 && heapLimit < 0.8 * memory,
    `V8's heap limit (${Math.round(heapLimit / 2 ** 20)} MiB) is under 80% of the container's memory (${Math.round(memory / 2 ** 20)} MiB)`,
  )
  const maxmemory = await compose.run([
    'exec',
    '-T',
    'redis',
    'redis-cli',
    'CONFIG',
    'GET',
    'maxmemory*',
  ])
  check(
    /maxmemory\s+268435456/.test(maxmemory.stdout) && /noeviction/.test(maxmemory.stdout),
    'Redis runs with maxmemory 256mb and noeviction',
  )

  const seen = new Set<string>()
  for (let i = 0; i < 30 && seen.size < 3; i++)
    seen.add((await http(base, 'GET', '/health')).replica)
  check(
    seen.size === 3 && ids.every((id) => seen.has(id)),
    `three distinct X-Replica-Id through nginx (${[...seen].join(', ')})`,
  )
  await checkOpsHidden(compose, base)

  const rwKeys = Array.from({ length: 5 }, (_, k) => `compose:rw:${k}`)
  const { stale, reads } = await writeThenReadEverywhere(base, rwKeys, 3, 3)
  check(
    stale === 0,
    `write then read on every replica: ${stale} stale of ${reads} reads (5 keys × 3 writes)`,
  )
  const databaseSecrets = {
    superuser: secrets.POSTGRES_PASSWORD,
    api: secrets.POSTGRES_API_PASSWORD,
  }
  await checkPostgresRole(compose, databaseSecrets, ids)

  // On a replica: nginx does not serve /cache-stats by default.
  const stats = JSON.parse((await replicaGet(compose, '/cache-stats')).body) as Record<
    string,
    unknown
  >
  const cluster = stats.cluster as { replicas?: { replica_id?: string }[] } | undefined
  const rows = cluster?.replicas?.map((r) => r.replica_id) ?? []
  check(
    rows.length === 3 && ids.every((id) => rows.includes(id)),
    `/cache-stats cluster view lists the 3 replicas (${rows.join(', ')})`,
  )

  // ---- scale up under load -----------------------------------------------------------------------
  const keys = Array.from({ length: 50 }, (_, i) => `compose:load:${i}`)
  for (const key of keys) await http(base, 'POST', '/write', { key, value: 'seed' })

  step('--scale api=5 under load (reads 150/s, writes 20/s)')
  let load = new Load({ baseUrl: base, keys, readRate: 150, writeRate: 20 })
  await sleep(2_000)
  const before = new Set(await compose.containerIds('api'))
  const scaleUpAt = load.now()
  const scaleUp = await compose.must([
    'up',
    '-d',
    '--no-build',
    '--no-recreate',
    '--wait',
    '--scale',
    'api=5',
  ])
  const added = (await compose.containerIds('api')).filter((id) => !before.has(id))
  // Up to DNS valid (5 s) plus a margin for nginx to send the new replicas their first requests.
  await sleep(8_000)
  let report = await load.stop()
  check(added.length === 2, `2 replicas added (${added.map(replicaIdOf).join(', ')})`)
  const firstTraffic = added.map((id) => report.firstSeen.get(replicaIdOf(id)))
  check(
    firstTraffic.every((t) => t !== undefined),
    'every new replica answered requests through nginx, with no reload',
  )
  const latest = Math.max(...firstTraffic.map((t) => t ?? Number.POSITIVE_INFINITY))
  // From each new container's start (Docker's clock) to its first answer through nginx.
  const startedAt = await docker(['inspect', '--format', '{{.State.StartedAt}}', ...added])
  const sinceStart = startedAt.stdout
    .split('\n')
    .filter(Boolean)
    .map((iso, i) => load.wallClock(firstTraffic[i] ?? Number.NaN) - Date.parse(iso))
  figure(
    'scale 3→5: container started until it took traffic (max)',
    seconds(Math.max(...sinceStart)),
  )
  figure('scale 3→5: `up --scale` until all healthy', seconds(scaleUp.ms))
  figure('scale 3→5: command until every new replica took traffic', seconds(latest - scaleUpAt))
  figure('scale 3→5: failed requests', describeFailures(report))
  check(report.failed.length === 0, 'scale up: 0 failed requests')

  // ---- scale down under load ---------------------------------------------------------------------
  step('--scale api=2 under the same load (replicas drain)')
  const versionsBefore = await versionsOf(base, keys)
  load = new Load({ baseUrl: base, keys, readRate: 150, writeRate: 20 })
  await sleep(2_000)
  const scaleDown = await compose.must([
    'up',
    '-d',
    '--no-build',
    '--no-recreate',
    '--scale',
    'api=2',
  ])
  await sleep(8_000)
  report = await load.stop()
  const remaining = (await compose.containerIds('api')).map(replicaIdOf)
  check(remaining.length === 2, `2 replicas left (${remaining.join(', ')})`)
  figure('scale 5→2: `up --scale` (3 replicas drain and stop)', seconds(scaleDown.ms))
  figure('scale 5→2: failed requests', describeFailures(report))
  // A replica's listener closes while Docker's DNS still names it (until its process exits), so
  // a connection can be in its accept queue at that instant: the kernel resets it after nginx
  // sent the request. nginx resends a GET elsewhere but not a POST (it cannot tell that the
  // replica never read it): that write fails with 502 and changed nothing (docs/docker.md).
  const refused = report.failed.filter((s) => s.method === 'POST' && s.status === 502)
  const unaccounted = writesUnaccounted(report, versionsBefore, await versionsOf(base, keys))
  check(
    report.failed.length === refused.length,
    `scale down: 0 failed reads, and no write failed but with 502 (${describeFailures(report)})`,
  )
  check(
    unaccounted.length === 0,
    `scale down: every key's version moved by its acknowledged writes: ${refused.length} refused write(s) changed nothing, no acknowledged one lost${unaccounted.length ? ` (not so for ${unaccounted.join(', ')})` : ''}`,
  )

  // ---- docker kill one replica -------------------------------------------------------------------
  step('docker kill one api container under a read load')
  await compose.must(['up', '-d', '--no-build', '--no-recreate', '--wait', '--scale', 'api=3'])
  load = new Load({ baseUrl: base, keys, readRate: 150, writeRate: 0 })
  await sleep(2_000)
  const victim = (await compose.containerIds('api'))[0] ?? ''
  const killed = await docker(['kill', victim])
  check(killed.code === 0, `docker kill ${replicaIdOf(victim)}`)
  await sleep(10_000)
  report = await load.stop()
  figure('docker kill: failed GETs', describeFailures(report))
  check(report.failed.length === 0, 'kill: 0 failed GETs (nginx retries idempotent requests)')

  // ---- Redis restart, checked by the history checker ---------------------------------------------
  step('restart Redis under reads and writes, history checked (packages/testkit)')
  await compose.must(['up', '-d', '--no-build', '--no-recreate', '--wait', '--scale', 'api=3'])
  await redisRestart(compose, base)

  // ---- the load generator ------------------------------------------------------------------------
  // Short and without priming all 100,000 keys (a minute on 2 cores), and with no latency
  // threshold: this shows the profile runs against nginx and reports; `pnpm loadtest` measures.
  step('docker compose --profile loadtest run --rm loadtest (15 s of read-heavy)')
  const generator = ['run', 'read-heavy', '--target', 'http://nginx', '--duration', '15s']
  const quick = ['--no-prime', '--vus', '8', '--threshold', 'errors==0']
  const loadtest = await compose.run(
    ['--profile', 'loadtest', 'run', '--rm', '--no-deps', 'loadtest', ...generator, ...quick],
    { echo: true },
  )
  check(loadtest.code === 0, `the generator exited ${loadtest.code}`)
  const hitRate = /combined (\d+(?:\.\d+)?)%/.exec(loadtest.stdout)
  check(hitRate !== null, 'the generator reported hit rates')
  if (hitRate) figure('loadtest read-heavy 15 s: combined hit rate', `${hitRate[1]} %`)

  await checkNginxLimits(compose, base, encodeURIComponent('compose:rw:0'))
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
