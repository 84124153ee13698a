import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { freePortBlock, freeStackPorts } from '@strata/stack/ports'
import { cpuMillis } from '@strata/stack/processes'
import type { RunningStack } from '@strata/stack/running-stack'
import { analyzeProfiles, type CpuProfileReport, formatProfileReport } from '../cpu-profile.js'
import type { LoadtestEnv } from '../env.js'
import { duration, flag, int, parseOptions } from '../options.js'
import { counterDelta, replicaCounters } from '../probes.js'
import { type Child, startChild, stopChild, waitUntil } from '../processes.js'
import { Progress } from '../progress.js'
import { machineInfo, publishLatest, resultDir, timestamp, writeJson } from '../results.js'
import { showSteps, stackDown, stackUp } from '../stack-client.js'
import { textTable } from '../summary.js'
import { findWrk, runWrk, type WrkResult } from '../wrk.js'

export const LIMIT_HELP = `pnpm loadtest:limit [options]
  The physical limit: L1-hit throughput of the full stack through nginx against a bare Hono app
  (loadtests/bare/) that returns the same JSON body and headers, behind the same nginx
  configuration with the same number of replicas. Both run side by side; wrk measures them in
  interleaved rounds and the medians are compared. Target: ratio ≥ 0.9.

  --rounds N          rounds; each measures every contender once, in rotating order (default 5)
  --round-duration D  seconds per measurement (default 5)
  --connections N     wrk connections (default 64)
  --threads N         wrk threads (default 1: the generator shares 2 cores with the servers)
  --replicas N        replicas on each side (default 3)
  --profile           run every replica and bare server with --cpu-prof and report where the
                      CPU goes on each side (throughput is then a little lower on both)
  --no-latest         do not refresh loadtests/results/latest/limit.{json,md}

  Needs wrk (apt-get install wrk) and nginx.`

/** A contender: something behind nginx that wrk measures. */
interface Contender {
  name: string
  url: string
  /** Replica URLs whose counters tell whether the stack really served from L1. */
  replicaUrls?: string[]
  /** The app's processes (replicas or bare servers), for CPU time per request. */
  appPids: number[]
  /** nginx's master; its workers are counted as its children. */
  nginxPids: number[]
}

/** One wrk measurement of a contender, with the CPU time its processes spent meanwhile. */
interface RoundResult extends WrkResult {
  l1_share?: number
  /** CPU µs per request of the app's processes, from /proc (Linux). */
  app_cpu_us: number
  /** CPU µs per request of nginx (master and workers). */
  nginx_cpu_us: number
}

const HOT_KEY = 'limit:hot'
const NGINX = [
  '/usr/sbin/nginx',
  '/usr/bin/nginx',
  '/usr/local/sbin/nginx',
  '/usr/local/nginx/sbin/nginx',
]

/** `pnpm loadtest:limit`. */
export async function limitCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values } = parseOptions(argv, {
    rounds: int(5),
    'round-duration': duration('5s'),
    connections: int(64),
    threads: int(1),
    replicas: int(3),
    profile: flag(),
    'no-latest': flag(),
  })
  const { rounds, connections, threads, replicas } = values
  // wrk takes whole seconds.
  const durationS = Math.max(1, Math.round(values['round-duration'] / 1000))
  const wrk = findWrk()
  if (!wrk) {
    console.error('wrk is not installed: apt-get install -y wrk')
    return 1
  }
  const nginx = NGINX.find((path) => existsSync(path))
  if (!nginx) {
    console.error('nginx is not installed: apt-get install -y nginx')
    return 1
  }
  const progress = new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) })
  const outDir = resultDir(`${timestamp()}-limit`)
  const work = mkdtempSync(join(tmpdir(), 'strata-limit-'))
  chmodSync(work, 0o755)
  const profileDir = join(outDir, 'profiles')
  if (values.profile) mkdirSync(profileDir, { recursive: true })
  // --cpu-prof is refused in NODE_OPTIONS, so a preloaded module drives the profiler instead.
  const preload = join(REPO_ROOT, 'loadtests/src/cpu-profiler-preload.mjs')
  const profileFlags = values.profile ? ['--import', preload] : []
  const logFile = join(outDir, 'stack.log')
  const baseEnv = { ...env.all, NODE_ENV: 'production' }
  delete (baseEnv as Record<string, string | undefined>).NODE_OPTIONS

  const stacks: Array<{ dataDir: string; stack?: RunningStack }> = []
  const children: Child[] = []
  const pids: Record<string, number[]> = {}
  try {
    // Two stacks: as shipped (ACCESS_LOG off: nginx logs every request) and with one
    // access-log line per request on every replica, to show what that costs.
    const variants = [
      { name: 'strata (as shipped)', accessLog: 'false' },
      { name: 'strata, ACCESS_LOG=true', accessLog: 'true' },
    ]
    const contenders: Contender[] = []
    for (const [i, variant] of variants.entries()) {
      const dataDir = join(work, `stack-${i + 1}`)
      mkdirSync(dataDir, { mode: 0o755 })
      stacks.push({ dataDir })
      const ports = await freeStackPorts(replicas, 25_000 + i * 100)
      progress.log(`starting ${variant.name} on ports ${ports.nginx}-${ports.postgres}`)
      const stackEnv = {
        ...baseEnv,
        ACCESS_LOG: variant.accessLog,
        ...(values.profile
          ? { NODE_OPTIONS: `--import ${preload}`, STRATA_CPU_PROF_DIR: profileDir }
          : {}),
      }
      const stack = await stackUp(
        {
          dataDir,
          mode: 'multi',
          lb: 'round-robin',
          replicas,
          ports,
          env: stackEnv,
          logFile,
        },
        showSteps(progress, `${variant.name}: `),
      )
      ;(stacks[i] as { stack?: RunningStack }).stack = stack
      pids[variant.name] = stack.replicas.map((r) => r.pid)
      await writeAndWarm(stack)
      contenders.push({
        name: variant.name,
        url: `${stack.nginxUrl}/read/${HOT_KEY}`,
        replicaUrls: stack.replicas.map((r) => r.url),
        appPids: stack.replicas.map((r) => r.pid),
        nginxPids: stack.pids.nginx ?? [],
      })
    }
    const reference = stacks[0]?.stack as RunningStack

    // The bare side: same body, same headers, same nginx.conf with other ports.
    const hit = await fetch(`${reference.replicas[0]?.url}/read/${HOT_KEY}`)
    if (hit.headers.get('x-cache-level') !== 'L1')
      throw new Error('the stack did not serve the hot key from L1')
    const bodyFile = join(work, 'body.json')
    writeFileSync(bodyFile, await hit.text())
    const base = await freePortBlock(replicas + 1, 25_500)
    const barePorts = Array.from({ length: replicas }, (_, i) => base + 1 + i)
    const bareRun = join(work, 'bare-nginx')
    const bareLogs = join(work, 'bare-logs')
    mkdirSync(bareRun, { mode: 0o755 })
    mkdirSync(bareLogs, { mode: 0o755 })
    const barePids: number[] = []
    pids['bare Hono'] = barePids
    for (const [i, port] of barePorts.entries()) {
      const child = startChild(
        `bare-${i + 1}`,
        process.execPath,
        [
          // As the stack runs its replicas (tools/stack/src/components/replica.ts: REPLICA_NODE_FLAGS).
          '--single-threaded-gc',
          ...profileFlags,
          '--import',
          'tsx',
          'loadtests/bare/server.ts',
          '--port',
          String(port),
          '--replica-id',
          `bare-${i + 1}`,
          '--body-file',
          bodyFile,
        ],
        {
          cwd: REPO_ROOT,
          env: values.profile ? { ...baseEnv, STRATA_CPU_PROF_DIR: profileDir } : baseEnv,
          logFile: join(outDir, 'bare.log'),
        },
      )
      children.push(child)
      barePids.push(child.process.pid ?? 0)
    }
    for (const port of barePorts) {
      await waitUntil(
        `bare server on ${port}`,
        async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).ok,
      )
    }
    const conf = bareNginxConfig(reference, barePorts, base, bareRun, bareLogs)
    writeFileSync(join(bareRun, 'nginx.conf'), conf)
    // The files nginx.conf includes from its own directory (rate limits, timeouts), as rendered.
    const stackRun = join(reference.dataDir, 'nginx')
    for (const file of readdirSync(stackRun)) {
      if (file.endsWith('.conf') && file !== 'nginx.conf')
        copyFileSync(join(stackRun, file), join(bareRun, file))
    }
    const bareNginx = startChild(
      'bare-nginx',
      nginx,
      ['-p', bareRun, '-c', join(bareRun, 'nginx.conf'), '-e', join(bareLogs, 'error.log')],
      {
        cwd: bareRun,
        env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin' },
        logFile: join(outDir, 'bare.log'),
      },
    )
    children.push(bareNginx)
    const bareUrl = `http://127.0.0.1:${base}/read/${HOT_KEY}`
    await waitUntil('bare nginx', async () => (await fetch(bareUrl)).ok)
    await assertSameResponse(`${reference.nginxUrl}/read/${HOT_KEY}`, bareUrl)
    contenders.push({
      name: 'bare Hono',
      url: bareUrl,
      appPids: barePids,
      nginxPids: [bareNginx.process.pid ?? 0],
    })

    // Rounds: every contender once per round, the order rotating so none always goes first.
    const results = new Map<string, RoundResult[]>()
    // Monotonic µs, the clock of CPU profiles: the profile analysis keeps these windows only.
    const windows = new Map<string, Array<[number, number]>>()
    const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n)
    for (let round = 0; round < rounds && !signal.aborted; round++) {
      for (let k = 0; k < contenders.length && !signal.aborted; k++) {
        const contender = contenders[(round + k) % contenders.length] as Contender
        progress.update(`round ${round + 1}/${rounds}: ${contender.name} (${durationS} s)`)
        const before = contender.replicaUrls
          ? await replicaCounters(contender.replicaUrls)
          : undefined
        const from = monotonicMicros()
        const appCpu = cpuMillis(contender.appPids)
        const nginxCpu = cpuMillis(contender.nginxPids)
        const measured = await runWrk(wrk, contender.url, { threads, connections, durationS })
        const perRequest = (ms: number) =>
          measured.requests === 0 ? 0 : Math.round((ms * 10_000) / measured.requests) / 10
        const result: RoundResult = {
          ...measured,
          app_cpu_us: perRequest(cpuMillis(contender.appPids) - appCpu),
          nginx_cpu_us: perRequest(cpuMillis(contender.nginxPids) - nginxCpu),
        }
        windows.set(contender.name, [
          ...(windows.get(contender.name) ?? []),
          [from, monotonicMicros()],
        ])
        if (before && contender.replicaUrls) {
          const delta = counterDelta(before, await replicaCounters(contender.replicaUrls))
          result.l1_share =
            delta.reads === 0 ? 0 : Math.round((delta.l1_hits / delta.reads) * 10_000) / 100
        }
        const list = results.get(contender.name) ?? []
        list.push(result)
        results.set(contender.name, list)
        progress.log(
          `round ${round + 1}/${rounds}  ${contender.name.padEnd(26)} ${Math.round(result.rps).toLocaleString('en-US').padStart(7)} req/s  p50 ${result.p50_ms.toFixed(2)} ms  p99 ${result.p99_ms.toFixed(2)} ms  CPU/req app ${result.app_cpu_us.toFixed(1)} µs, nginx ${result.nginx_cpu_us.toFixed(1)} µs${result.errors ? `  ${result.errors} errors` : ''}${result.l1_share !== undefined ? `  L1 ${result.l1_share}%` : ''}`,
        )
      }
    }
    if (signal.aborted) return 130

    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b)
      const mid = Math.floor(s.length / 2)
      return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
    }
    const bare = median((results.get('bare Hono') ?? []).map((r) => r.rps))
    const rows = contenders.map((c) => {
      const list = results.get(c.name) ?? []
      const rps = median(list.map((r) => r.rps))
      return {
        contender: c.name,
        median_rps: Math.round(rps),
        rounds_rps: list.map((r) => Math.round(r.rps)),
        p50_ms: median(list.map((r) => r.p50_ms)),
        p99_ms: median(list.map((r) => r.p99_ms)),
        app_cpu_us: median(list.map((r) => r.app_cpu_us)),
        nginx_cpu_us: median(list.map((r) => r.nginx_cpu_us)),
        errors: list.reduce((sum, r) => sum + r.errors, 0),
        ratio_to_bare: Math.round((rps / bare) * 1000) / 1000,
        ...(list.some((r) => r.l1_share !== undefined)
          ? { l1_share: Math.min(...list.map((r) => r.l1_share ?? 0)) }
          : {}),
      }
    })
    const settings = {
      rounds,
      round_duration_s: durationS,
      connections,
      threads,
      replicas,
      profiled: values.profile,
      key: HOT_KEY,
    }
    const json = {
      generated_at: new Date().toISOString(),
      command: `pnpm loadtest:limit${rounds !== 5 ? ` --rounds ${rounds}` : ''}${durationS !== 5 ? ` --round-duration ${durationS}` : ''}`,
      settings,
      machine: machineInfo(),
      rows,
    }
    writeJson(join(outDir, 'limit.json'), json)
    const table = textTable([
      [
        'contender',
        'median req/s',
        'rounds',
        'p50 ms',
        'p99 ms',
        'ratio to bare',
        'app CPU µs/req',
        'nginx CPU µs/req',
        'L1 share',
      ],
      ...rows.map((r) => [
        r.contender,
        r.median_rps.toLocaleString('en-US'),
        r.rounds_rps.map((n) => n.toLocaleString('en-US')).join(' / '),
        r.p50_ms.toFixed(2),
        r.p99_ms.toFixed(2),
        r.ratio_to_bare.toFixed(3),
        r.app_cpu_us.toFixed(1),
        r.nginx_cpu_us.toFixed(1),
        'l1_share' in r ? `${r.l1_share}%` : '–',
      ]),
    ])
    writeFileSync(join(outDir, 'limit.md'), limitMarkdown(json, rows))
    console.log(`\n${table}\n`)
    const shipped = rows[0]
    if (shipped) {
      console.log(
        `Ratio, stack as shipped / bare Hono: ${shipped.ratio_to_bare.toFixed(3)} (target ≥ 0.9: ${shipped.ratio_to_bare >= 0.9 ? 'met' : 'missed'})`,
      )
    }
    const files = ['limit.json', 'limit.md']
    let profileReport: CpuProfileReport | undefined
    // Profiles are written when the processes exit: stop everything first.
    await teardown(stacks, children, baseEnv, logFile)
    stacks.length = 0
    children.length = 0
    if (values.profile) {
      profileReport = analyzeProfiles(
        profileDir,
        Object.fromEntries(
          contenders.map((c) => [
            c.name,
            {
              pids: pids[c.name] ?? [],
              windows: windows.get(c.name) ?? [],
              requests: (results.get(c.name) ?? []).reduce((sum, r) => sum + r.requests, 0),
            },
          ]),
        ),
      )
      const text = formatProfileReport(profileReport)
      writeFileSync(join(outDir, 'profile.txt'), `${text}\n`)
      writeJson(join(outDir, 'profile.json'), profileReport)
      console.log(`\n${text}`)
      files.push('profile.txt')
    }
    if (!values['no-latest'] && !values.profile) publishLatest(outDir, files)
    console.log(`\nResults: ${relative(REPO_ROOT, outDir)}/`)
    return rows.some((r) => r.errors > 0) ? 1 : 0
  } finally {
    await teardown(stacks, children, baseEnv, logFile)
    rmSync(work, { recursive: true, force: true })
  }
}

async function teardown(
  stacks: Array<{ dataDir: string }>,
  children: Child[],
  env: Readonly<Record<string, string | undefined>>,
  logFile: string,
): Promise<void> {
  await Promise.all(
    children.map((child) => stopChild(child, child.name === 'bare-nginx' ? 'SIGQUIT' : 'SIGTERM')),
  )
  for (const { dataDir } of stacks) await stackDown(dataDir, env, logFile).catch(() => {})
}

/** Writes the hot key and reads it on every replica until each serves it from L1. */
async function writeAndWarm(stack: RunningStack): Promise<void> {
  const write = await fetch(`${stack.nginxUrl}/write`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: HOT_KEY, value: 'v'.repeat(100) }),
  })
  if (!write.ok) throw new Error(`writing ${HOT_KEY} answered ${write.status}`)
  for (const replica of stack.replicas) {
    await waitUntil(`${replica.name} serving ${HOT_KEY} from L1`, async () => {
      const response = await fetch(`${replica.url}/read/${HOT_KEY}`)
      await response.arrayBuffer()
      return response.headers.get('x-cache-level') === 'L1'
    })
  }
}

/**
 * The stack's own rendered nginx.conf with the bare side's ports and directories: everything
 * else (workers, keepalive, logging, error pages, proxy settings) is byte for byte the same.
 */
function bareNginxConfig(
  stack: RunningStack,
  barePorts: readonly number[],
  listenPort: number,
  runDir: string,
  logDir: string,
): string {
  let conf = readFileSync(join(stack.dataDir, 'nginx', 'nginx.conf'), 'utf8')
  const nginxPort = Number(new URL(stack.nginxUrl).port)
  conf = conf.split(join(stack.dataDir, 'logs', 'nginx')).join(logDir)
  conf = conf.split(join(stack.dataDir, 'nginx')).join(runDir)
  conf = conf.replace(new RegExp(`listen ${nginxPort};`), `listen ${listenPort};`)
  stack.replicas.forEach((replica, i) => {
    const port = new URL(replica.url).port
    conf = conf.split(`server 127.0.0.1:${port} `).join(`server 127.0.0.1:${barePorts[i]} `)
  })
  if (conf.includes(stack.dataDir) || !conf.includes(`listen ${listenPort};`)) {
    throw new Error(
      'could not adapt the stack’s nginx.conf for the bare side (its layout changed?)',
    )
  }
  return conf
}

/** Both sides must answer with the same status, body length and headers (values of ids aside). */
async function assertSameResponse(stackUrl: string, bareUrl: string): Promise<void> {
  const [a, b] = await Promise.all([fetch(stackUrl), fetch(bareUrl)])
  const [bodyA, bodyB] = await Promise.all([a.text(), b.text()])
  const names = (r: Response) =>
    [...r.headers.keys()]
      .filter((n) => n !== 'date')
      .sort()
      .join(',')
  const problems: string[] = []
  if (a.status !== b.status) problems.push(`status ${a.status} vs ${b.status}`)
  // Same shape and length; only the replica ids in X-Replica-Id differ in length.
  if (Math.abs(bodyA.length - bodyB.length) > 0)
    problems.push(`body ${bodyA.length} vs ${bodyB.length} bytes`)
  if (names(a) !== names(b)) problems.push(`headers [${names(a)}] vs [${names(b)}]`)
  if (problems.length > 0)
    throw new Error(`the bare app does not answer like the stack: ${problems.join('; ')}`)
}

function limitMarkdown(
  json: {
    generated_at: string
    command: string
    settings: Record<string, unknown>
    machine: ReturnType<typeof machineInfo>
  },
  rows: Array<{
    contender: string
    median_rps: number
    rounds_rps: number[]
    p50_ms: number
    p99_ms: number
    ratio_to_bare: number
    app_cpu_us: number
    nginx_cpu_us: number
    l1_share?: number
  }>,
): string {
  const s = json.settings
  const lines = [
    '# Physical limit: L1 hits through nginx',
    '',
    `\`GET /read/${String(s.key)}\` (an L1 hit on every replica) through nginx, against a bare Hono app returning the same body and headers behind the same nginx.conf, ${String(s.replicas)} replicas each side. wrk -t${String(s.threads)} -c${String(s.connections)}, ${String(s.rounds)} interleaved rounds of ${String(s.round_duration_s)} s, medians. ${json.machine.cpus} × ${json.machine.cpu_model}, Node ${json.machine.node}, ${json.generated_at.slice(0, 16).replace('T', ' ')} UTC. Reproduce: \`${json.command}\`.`,
    '',
    '| contender | median req/s | p50 ms | p99 ms | ratio to bare | app CPU µs/req | nginx CPU µs/req | L1 share |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.contender} | ${r.median_rps.toLocaleString('en-US')} | ${r.p50_ms.toFixed(2)} | ${r.p99_ms.toFixed(2)} | ${r.ratio_to_bare.toFixed(3)} | ${r.app_cpu_us.toFixed(1)} | ${r.nginx_cpu_us.toFixed(1)} | ${r.l1_share !== undefined ? `${r.l1_share}%` : '–'} |`,
    ),
    '',
    'CPU µs/req: CPU time (user + system, from /proc) the processes of each side spent per request during its rounds: the app (three replicas or three bare servers) and nginx (master and workers). It is much less sensitive to other load on the machine than req/s.',
    '',
    `Per round (req/s): ${rows.map((r) => `${r.contender} ${r.rounds_rps.map((n) => n.toLocaleString('en-US')).join(' / ')}`).join('; ')}.`,
    '',
  ]
  return lines.join('\n')
}
