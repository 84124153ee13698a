import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { freePortBlock } from '@strata/stack/ports'
import type { RunningStack } from '@strata/stack/running-stack'
import { startChild, waitUntil } from '../processes.js'
import { type Contender, HOT_KEY, type LimitRun } from './limit-stacks.js'

/**
 * The bare side: Hono servers answering the stack's body and headers, behind the stack's own
 * nginx.conf with other ports. `reference` is the stack whose answer and config are copied.
 */
export async function startBare(
  run: LimitRun,
  reference: RunningStack,
  nginx: string,
): Promise<Contender> {
  const hit = await fetch(`${reference.replicas[0]?.url}/read/${HOT_KEY}`)
  if (hit.headers.get('x-cache-level') !== 'L1')
    throw new Error('the stack did not serve the hot key from L1')
  const bodyFile = join(run.work, 'body.json')
  writeFileSync(bodyFile, await hit.text())
  const base = await freePortBlock(run.replicas + 1, 25_500)
  const barePorts = Array.from({ length: run.replicas }, (_, i) => base + 1 + i)
  const bareRun = join(run.work, 'bare-nginx')
  const bareLogs = join(run.work, 'bare-logs')
  mkdirSync(bareRun, { mode: 0o755 })
  mkdirSync(bareLogs, { mode: 0o755 })
  const barePids = startBareServers(run, barePorts, bodyFile)
  run.pids['bare Hono'] = barePids
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
      logFile: join(run.outDir, 'bare.log'),
    },
  )
  run.children.push(bareNginx)
  const bareUrl = `http://127.0.0.1:${base}/read/${HOT_KEY}`
  await waitUntil('bare nginx', async () => (await fetch(bareUrl)).ok)
  await assertSameResponse(`${reference.nginxUrl}/read/${HOT_KEY}`, bareUrl)
  return {
    name: 'bare Hono',
    url: bareUrl,
    appPids: barePids,
    nginxPids: [bareNginx.process.pid ?? 0],
  }
}

/** One bare Hono server per port, run as the stack runs its replicas; returns their pids. */
function startBareServers(run: LimitRun, ports: readonly number[], bodyFile: string): number[] {
  // --cpu-prof is refused in NODE_OPTIONS, so a preloaded module drives the profiler instead.
  const profileFlags = run.profile ? ['--import', run.preload] : []
  return ports.map((port, i) => {
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
        env: run.profile ? { ...run.baseEnv, STRATA_CPU_PROF_DIR: run.profileDir } : run.baseEnv,
        logFile: join(run.outDir, 'bare.log'),
      },
    )
    run.children.push(child)
    return child.process.pid ?? 0
  })
}

/**
 * The stack's own rendered nginx.conf with the bare side's ports and directories: everything
 * else (workers, keepalive, logging, error pages, proxy settings) is byte for byte the same.
 */
export function bareNginxConfig(
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
  // Every server block listening on the stack's port (the Host check's default server too).
  const listen = (port: number) => `listen 127.0.0.1:${port}`
  conf = conf.replace(new RegExp(`${listen(nginxPort)}(?=[ ;])`, 'g'), listen(listenPort))
  stack.replicas.forEach((replica, i) => {
    const port = new URL(replica.url).port
    conf = conf.split(`server 127.0.0.1:${port} `).join(`server 127.0.0.1:${barePorts[i]} `)
  })
  if (conf.includes(stack.dataDir) || !conf.includes(`${listen(listenPort)};`)) {
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
