/**
 * `pnpm compose:test`, the part that runs after deploy/compose-test.sh has an engine, the CLI
 * plugins and the stand-in base images: it builds Strata's images from deploy/Dockerfile, runs
 * the shipped deploy/docker-compose.yml (with deploy/stand-ins/compose.yml swapping the
 * registry's images only), and checks what docs/docker.md says users can do with it, through
 * nginx's published port. Every figure it prints is measured in this run.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkHistory, History, StrataClient } from '@strata/testkit'
import { Compose, docker, replicaIdOf } from './compose-test/compose.js'
import { describeFailures, Load } from './compose-test/load.js'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const PROJECT = 'strata-compose-test'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const secret = () => randomBytes(18).toString('hex')

/** Figures for the summary, in the order measured. */
const figures: [string, string][] = []
const failures: string[] = []
const figure = (name: string, value: string) => {
  figures.push([name, value])
  console.log(`     ${name}: ${value}`)
}
const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok) failures.push(what)
}
const step = (title: string) => console.log(`\n\x1b[1m--- ${title}\x1b[0m`)
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const address = server.address()
  await new Promise((r) => server.close(r))
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

/** One HTTP exchange through nginx, with its JSON body and the replica that answered. */
async function http(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    signal: AbortSignal.timeout(10_000),
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  const text = await res.text()
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    // Not JSON: the assertions below report the status.
  }
  return { status: res.status, json, replica: res.headers.get('x-replica-id') ?? '' }
}

async function main(): Promise<number> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const compose = new Compose({
    project: PROJECT,
    files: ['deploy/docker-compose.yml', 'deploy/stand-ins/compose.yml'],
    cwd: repo,
    env: {
      POSTGRES_PASSWORD: secret(),
      REDIS_PASSWORD: secret(),
      REDIS_ADMIN_PASSWORD: secret(),
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

  try {
    await scenarios(compose, base)
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error))
    console.error(error)
    const logs = await compose.run(['logs', '--no-color', '--tail', '40'])
    console.error(logs.stdout.slice(-12_000))
  } finally {
    if (process.env.STRATA_COMPOSE_KEEP === '1' && failures.length > 0) {
      console.log(`\nSTRATA_COMPOSE_KEEP=1: project ${PROJECT} left running on ${base}`)
    } else {
      step('docker compose down -v')
      const down = await compose.run(['--profile', 'loadtest', 'down', '-v', '--remove-orphans'])
      check(down.code === 0, `down -v exited 0 (${seconds(down.ms)})`)
      const label = `label=com.docker.compose.project=${PROJECT}`
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
  step(`Figures (${kind} run)`)
  for (const [name, value] of figures) console.log(`  ${name.padEnd(58)} ${value}`)
  const out = resolve(repo, `.data/compose-test/figures-${kind}.json`)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(Object.fromEntries(figures), null, 2)}\n`)
  console.log(`  (also in ${out})`)
  const passed = figures.length > 0 && failures.length === 0
  if (passed && process.env.STRATA_COMPOSE_UPDATE_DOCS === '1') updateDocs(kind)
  console.log(
    passed ? '\ncompose:test passed' : `\ncompose:test FAILED:\n  ${failures.join('\n  ')}`,
  )
  return passed ? 0 : 1
}

/**
 * Writes this run's figures into docs/docker.md, between the markers of its kind, so the page
 * shows what the command measured and nothing typed by hand.
 */
function updateDocs(kind: 'cold' | 'warm'): void {
  const file = resolve(repo, 'docs/docker.md')
  const begin = `<!-- compose-test figures: ${kind} -->`
  const end = `<!-- /compose-test figures: ${kind} -->`
  const text = readFileSync(file, 'utf8')
  const from = text.indexOf(begin)
  const to = text.indexOf(end)
  if (from < 0 || to < from) throw new Error(`docs/docker.md lacks the markers ${begin} … ${end}`)
  const day = new Date().toISOString().slice(0, 10)
  const table = [
    `Measured ${day} by \`STRATA_COMPOSE_UPDATE_DOCS=1 pnpm compose:test\` (${kind} run):`,
    '',
    '| what | figure |',
    '| --- | --- |',
    ...figures.map(([name, value]) => `| ${name} | ${value} |`),
  ].join('\n')
  writeFileSync(file, `${text.slice(0, from + begin.length)}\n${table}\n${text.slice(to)}`)
  console.log(`  written into docs/docker.md (${kind})`)
  updateReadmeSummary()
}

/** The README's Docker section: one paragraph from the last cold and warm runs' figures. */
function updateReadmeSummary(): void {
  const read = (kind: string): Record<string, string> | undefined => {
    try {
      const json = readFileSync(resolve(repo, `.data/compose-test/figures-${kind}.json`), 'utf8')
      return JSON.parse(json) as Record<string, string>
    } catch {
      return undefined
    }
  }
  const cold = read('cold')
  const warm = read('warm')
  const last = warm ?? cold
  if (!last) return
  const f = (name: string) => last[name] ?? '?'
  const builds = [
    cold && `${cold['build api + loadtest images']} cold`,
    warm && `${warm['build api + loadtest images']} warm (nothing changed)`,
  ].filter(Boolean)
  const totals = [
    cold && `${cold['compose:test in all']} on a fresh machine`,
    warm && `${warm['compose:test in all']} warm`,
  ].filter(Boolean)
  const summary = [
    `Build of both images: ${builds.join(', ')}. API image: ${f('image size localhost/strata-api:latest')}.`,
    `A new replica takes traffic ${f('scale 3→5: container started until it took traffic (max)')} after its container starts.`,
    `Failed requests: scaling 3 → 5 under load, ${f('scale 3→5: failed requests')}; scaling 5 → 2,`,
    `${f('scale 5→2: failed requests')}; \`docker kill\` of a replica, ${f('docker kill: failed GETs')} GETs.`,
    `Redis restart, history checker: ${f('Redis restart: history checker')}.`,
    `The whole command: ${totals.join(', ')}.`,
  ].join('\n')
  const file = resolve(repo, 'README.md')
  const text = readFileSync(file, 'utf8')
  const begin = '<!-- compose-test summary -->'
  const end = '<!-- /compose-test summary -->'
  const from = text.indexOf(begin)
  const to = text.indexOf(end)
  if (from < 0 || to < from) throw new Error(`README.md lacks the markers ${begin} … ${end}`)
  writeFileSync(file, `${text.slice(0, from + begin.length)}\n${summary}\n${text.slice(to)}`)
  console.log('  written into README.md (Docker Compose)')
}

async function scenarios(compose: Compose, base: string): Promise<void> {
  for (const line of (process.env.STRATA_COMPOSE_SETUP ?? '').split('\n').filter(Boolean)) {
    const [name, secs] = line.split('\t')
    figure(`setup: ${name}`, `${secs} s`)
  }

  // ---- the files -------------------------------------------------------------------------------
  step('Compose file: parsed by compose, secrets required')
  await compose.must(['--profile', 'loadtest', 'config', '--quiet'])
  check(true, 'docker compose config accepts the shipped file with the stand-in override')
  for (const name of ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'REDIS_ADMIN_PASSWORD']) {
    const without = await compose.run(['config', '--quiet'], { env: { [name]: '' } })
    check(
      without.code !== 0 && without.stderr.includes(name),
      `without ${name} compose refuses the file and names the variable`,
    )
  }
  const withExample = await compose.run(['--env-file', 'deploy/.env.example', 'config', '--quiet'])
  check(
    withExample.code === 0,
    'the file loads with deploy/.env.example (secrets from the environment)',
  )
  // The stand-in override replaces nginx's image in this run, so the image users pull is read
  // from the shipped file alone: it must have the `resolve` parameter docker.conf relies on.
  const shipped = await compose.must(['config', '--format', 'json'], {
    files: ['deploy/docker-compose.yml'],
  })
  const services = (JSON.parse(shipped.stdout) as { services: Record<string, { image?: string }> })
    .services
  const nginxImage = services.nginx?.image ?? ''
  const tag = /^nginx:(\d+)\.(\d+)(?:\.(\d+))?/.exec(nginxImage)
  const version = tag ? [Number(tag[1]), Number(tag[2]), Number(tag[3] ?? 0)] : [0, 0, 0]
  const atLeast = (v: number[], min: number[]) =>
    v[0] !== min[0]
      ? (v[0] ?? 0) > (min[0] ?? 0)
      : v[1] !== min[1]
        ? (v[1] ?? 0) > (min[1] ?? 0)
        : (v[2] ?? 0) >= (min[2] ?? 0)
  check(
    atLeast(version, [1, 27, 3]),
    `users' nginx image ${nginxImage} is pinned to >= 1.27.3 (upstream \`resolve\`)`,
  )

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

  // Write then read on every replica: each replica first caches the old version in L1, then a
  // write through any replica must reach all of them (the bus), never a stale value.
  let stale = 0
  let reads = 0
  for (let k = 0; k < 5; k++) {
    const key = `compose:rw:${k}`
    for (let round = 1; round <= 3; round++) {
      const written = await http(base, 'POST', '/write', { key, value: `value ${round}` })
      if (written.status !== 200) failures.push(`write ${key} round ${round}: ${written.status}`)
      const version = written.json.version
      const answered = new Set<string>()
      for (let i = 0; i < 40 && answered.size < 3; i++) {
        const read = await http(base, 'GET', `/read/${encodeURIComponent(key)}`)
        reads++
        answered.add(read.replica)
        if (read.status !== 200 || read.json.version !== version) stale++
      }
      if (answered.size < 3) failures.push(`${key}: only ${answered.size} replicas answered reads`)
    }
  }
  check(
    stale === 0,
    `write then read on every replica: ${stale} stale of ${reads} reads (5 keys × 3 writes)`,
  )

  const stats = await http(base, 'GET', '/cache-stats')
  const cluster = stats.json.cluster as { replicas?: { replica_id?: string }[] } | undefined
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
  check(report.failed.length === 0, 'scale down: 0 failed requests')

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
}

async function redisRestart(compose: Compose, base: string): Promise<void> {
  const history = new History()
  const client = new StrataClient({ baseUrl: base, history, timeoutMs: 15_000 })
  const keys = Array.from({ length: 20 }, (_, i) => `compose:redis:${i}`)
  let running = true
  const worker = async (n: number) => {
    let i = n
    while (running) {
      const key = keys[i++ % keys.length] as string
      if (i % 5 === 0) await client.write(key, `w${i}`)
      else await client.read(key)
      await sleep(10)
    }
  }
  const workers = [0, 1, 2, 3].map(worker)
  await sleep(4_000)
  const restarted = await compose.run(['restart', 'redis'])
  check(restarted.code === 0, `docker compose restart redis (${seconds(restarted.ms)})`)
  await sleep(10_000)
  running = false
  await Promise.all(workers)
  client.close()

  const psql = await compose.must([
    'exec',
    '-T',
    'postgres',
    'psql',
    '-U',
    'strata',
    '-d',
    'strata',
    '-At',
    '-F',
    ' ',
    '-c',
    "SELECT key, GREATEST(r.version, d.version) FROM records r FULL OUTER JOIN deleted_records d USING (key) WHERE key LIKE 'compose:redis:%'",
  ])
  const finalVersions = new Map(
    psql.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [key, version] = line.split(' ')
        return [key as string, Number(version)] as const
      }),
  )
  const result = checkHistory(history, { initialVersions: new Map(), finalVersions })
  const { writes, reads } = result
  figure(
    'Redis restart: history checker',
    `${result.totalViolations} violations; reads ${reads.found + reads.notFound} served, ${reads.failed} failed; ` +
      `writes ${writes.acked} acked, ${writes.refused} refused (503), ${writes.unknown} unknown; ` +
      `stale reads ${result.staleness.stale}`,
  )
  for (const example of result.examples.slice(0, 5))
    console.log(`     ${example.kind}: ${example.message}`)
  check(
    result.totalViolations === 0,
    'Redis restart: no guarantee broken (no stale read, no lost write)',
  )
  check(reads.failed === 0, 'Redis restart: every read was served')
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
