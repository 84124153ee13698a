import { relative, resolve } from 'node:path'
import { redactUrl } from '@strata/api/redact'
import { type Cluster, startCluster } from './cluster.js'
import { REDIS_CLUSTER_NODES, REDIS_CLUSTER_SHAPE, type StackConfig, stackPaths } from './config.js'
import { killDaemon } from './daemons.js'
import { StackError } from './errors.js'
import { type ComponentStatus, stackStatus, stopStack } from './recorded-stack.js'
import type { Reporter } from './reporter.js'
import { readState, removeState } from './state.js'
import { textTable } from './text-table.js'

/** A repeated stop signal within this many milliseconds is the same Ctrl-C, not a request to force. */
const FORCE_AFTER_MS = 1_000

/** Exit statuses of the CLI, documented in `--help`. */
export const EXIT = { ok: 0, failed: 1, unhealthy: 1, notRunning: 3, interrupted: 130 } as const

/** `stack up`: starts everything in the background and returns once all of it is healthy. */
export async function upCommand(config: StackConfig, reporter: Reporter): Promise<number> {
  let cluster: Cluster
  try {
    cluster = await startCluster(config, { reporter })
  } catch (error) {
    if (error instanceof StackError && error.code === 'E_ALREADY_RUNNING') {
      console.log('Strata is already running; nothing was started.')
      console.log(
        `Run \`pnpm stack down${dataDirArgument(config)}\` first to start it with other options.\n`,
      )
      return statusCommand(config)
    }
    throw error
  }
  printSummary(cluster)
  console.log(
    `Status: pnpm stack status${dataDirArgument(config)}    Stop: pnpm stack down${dataDirArgument(config)}`,
  )
  return EXIT.ok
}

/**
 * `start`: `up` in the foreground. Ctrl-C (or SIGTERM, or `pnpm stack down` from another
 * terminal) stops everything in order; a second Ctrl-C kills what is left at once.
 */
export async function startCommand(config: StackConfig, reporter: Reporter): Promise<number> {
  const abort = new AbortController()
  let cluster: Cluster | undefined
  let stopping: Promise<void> | undefined
  let resolveStopped: (code: number) => void = () => {}
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve
  })

  let firstSignalAt = 0
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping || abort.signal.aborted) {
      // One Ctrl-C can arrive twice: from the terminal and relayed by tsx's or pnpm's process
      // a few milliseconds later. Only a second press, well after the first, means "force".
      if (Date.now() - firstSignalAt < FORCE_AFTER_MS) return
      reporter.warn(`${signal} again: killing every component now`)
      void forceKill(config).finally(() => process.exit(EXIT.interrupted))
      return
    }
    firstSignalAt = Date.now()
    if (!cluster) {
      // Still starting: the start-up notices the abort, stops what it started and throws.
      reporter.step(
        `${signal}: interrupting start-up (press Ctrl-C again to kill everything at once)`,
      )
      abort.abort()
      return
    }
    reporter.step(`${signal}: stopping the stack (press Ctrl-C again to kill everything at once)`)
    const running = cluster
    stopping = running.stop().then(
      () => {
        reporter.step('Stopped; nothing is left running')
        resolveStopped(EXIT.ok)
      },
      (error: unknown) => {
        reporter.warn(`stopping failed: ${(error as Error).message}`)
        resolveStopped(EXIT.failed)
      },
    )
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const signal of signals) process.on(signal, onSignal)

  try {
    cluster = await startCluster(config, { reporter, foreground: true, signal: abort.signal })
  } catch (error) {
    if (error instanceof StackError && error.code === 'E_ABORTED') {
      reporter.step('Interrupted; everything started so far was stopped')
      return EXIT.interrupted
    }
    throw error
  }
  printSummary(cluster)
  console.log('\nPress Ctrl-C to stop.\n')
  // The components are detached and unref'd, and signal listeners do not hold the event loop:
  // without a timer Node would see nothing left to do and exit here, leaving the stack orphaned.
  const keepAlive = setInterval(() => {}, 60_000)
  const code = await stopped
  clearInterval(keepAlive)
  for (const signal of signals) process.off(signal, onSignal)
  return code
}

/** `stack down`: stops the recorded stack, whoever started it. */
export async function downCommand(config: StackConfig, reporter: Reporter): Promise<number> {
  const found = await stopStack(config, reporter)
  if (found) reporter.step('Stack stopped; nothing is left running')
  else
    console.log(
      `No stack is running from ${config.dataDir} (no ${relativeToCwd(stackPaths(config).stateFile)}).`,
    )
  return EXIT.ok
}

/** `stack status`: each component's pid, port and health. Exit 0 healthy, 1 degraded, 3 not running. */
export async function statusCommand(config: StackConfig): Promise<number> {
  const status = await stackStatus(config)
  if (!status) {
    console.log(`Not running (no stack recorded in ${config.dataDir}).`)
    return EXIT.notRunning
  }
  const { state, components } = status
  const owner = state.foreground ? `foreground, pid ${state.ownerPid}` : 'background'
  const redis = state.options.redis === 'cluster' ? ', Redis Cluster' : ''
  console.log(
    `Strata stack started ${state.startedAt} (${owner}): ${state.options.replicas} replicas, ` +
      `mode ${state.options.mode}, ${state.options.lb}${redis}`,
  )
  const rows: string[][] = [['COMPONENT', 'PID', 'PORT', 'HEALTH', 'URL']]
  for (const component of components) {
    rows.push([
      component.role ? `${component.name} (${component.role})` : component.name,
      String(component.pid),
      String(component.port),
      health(component),
      component.url,
    ])
  }
  if (state.external.database)
    rows.push(['postgres', '-', '-', 'external', state.external.database])
  if (state.external.redis) rows.push(['redis', '-', '-', 'external', state.external.redis])
  console.log(textTable(rows))
  const healthy = components.every((component) => component.healthy)
  if (!healthy)
    console.log(
      `\nSome components are not healthy; their logs are in ${stackPaths(config).logsDir}`,
    )
  return healthy ? EXIT.ok : EXIT.unhealthy
}

const health = (component: ComponentStatus) => {
  if (!component.running) return 'stopped'
  return component.healthy ? 'healthy' : 'unhealthy'
}

function printSummary(cluster: Cluster): void {
  const { config } = cluster
  const paths = stackPaths(config)
  const rows: string[][] = [
    ['API (nginx)', cluster.url, `try: curl ${cluster.url}/health`],
    ['API docs', `${cluster.url}/docs`, ''],
  ]
  for (let index = 1; index <= config.replicas; index++) {
    rows.push([`replica-${index}`, cluster.replicaUrl(index), 'direct, bypassing nginx'])
  }
  rows.push([
    'PostgreSQL',
    redactUrl(cluster.backends.databaseUrl),
    config.databaseUrl ? 'from DATABASE_URL' : '',
  ])
  if (config.redisTopology === 'cluster') {
    const last = config.redisPort + REDIS_CLUSTER_NODES - 1
    rows.push([
      'Redis Cluster',
      `redis-1..${REDIS_CLUSTER_NODES} on 127.0.0.1:${config.redisPort}-${last}`,
      `REDIS_CLUSTER_NODES: the ${REDIS_CLUSTER_SHAPE.masters} first, as strata-api`,
    ])
  } else
    rows.push([
      'Redis',
      redactUrl(cluster.backends.redisUrl),
      config.redisUrl ? 'from REDIS_URL' : '',
    ])
  if (!config.databaseUrl || !config.redisUrl) {
    rows.push([
      'Credentials',
      relativeToCwd(paths.credentialsFile),
      'mode 600; shown above with *** for the password',
    ])
  }
  rows.push(['Logs', `${relativeToCwd(paths.logsDir)}/`, '<component>.log, nginx/access.log'])
  console.log(
    `\nStrata is up: ${config.replicas} ${config.replicas === 1 ? 'replica' : 'replicas'}, cache mode ${config.mode}, ${config.lb} reads through nginx\n`,
  )
  console.log(textTable(rows, { indent: '  ' }))
  console.log(
    config.adminToken
      ? '\nPOST /clear-cache is enabled with ADMIN_TOKEN (Authorization: Bearer $ADMIN_TOKEN).'
      : '\nPOST /clear-cache is disabled: ADMIN_TOKEN is not set (set it, 16+ characters, to enable it).',
  )
}

/** The CLI arguments that point another command at this stack's data directory. */
const dataDirArgument = (config: StackConfig) =>
  config.dataDir === resolve(config.rootDir, '.data')
    ? ''
    : ` --data-dir ${relativeToCwd(config.dataDir)}`

/** Kills every recorded component at once (second Ctrl-C), also those of an unfinished start-up. */
async function forceKill(config: StackConfig): Promise<void> {
  const stateFile = stackPaths(config).stateFile
  const state = readState(stateFile)
  if (!state) return
  await Promise.all(state.components.map((component) => killDaemon(component)))
  removeState(stateFile)
}

const relativeToCwd = (path: string) => {
  const shown = relative(process.cwd(), path)
  return shown.startsWith('..') || shown === '' ? path : shown
}
