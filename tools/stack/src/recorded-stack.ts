import { setTimeout as sleep } from 'node:timers/promises'
import { clusterNodes, withNode } from '@strata/test-servers'
import { findPsql } from './binaries.js'
import { isHealthy } from './components/health.js'
import { stopComponents } from './components/launch.js'
import { type StackConfig, stackPaths } from './config.js'
import { readCredentials } from './credentials.js'
import { isRunning } from './daemons.js'
import type { Reporter } from './reporter.js'
import { type ComponentState, readState, removeState, type StackState } from './state.js'

// A stack as another process finds it through its state file: `pnpm stack status` and `down`.

/**
 * Stops the stack recorded in `<data-dir>/stack.json`, from any process (`pnpm stack down`).
 * A foreground `pnpm start` is asked to stop itself, so it exits cleanly instead of reporting
 * its components as crashed. Returns false when no stack was recorded.
 */
export async function stopStack(
  config: Pick<StackConfig, 'dataDir' | 'rootDir'>,
  reporter: Reporter,
): Promise<boolean> {
  const stateFile = stackPaths(config).stateFile
  const state = readState(stateFile)
  if (!state) return false
  const owner = { pid: state.ownerPid, startTime: state.ownerStartTime }
  if (state.foreground && state.ownerPid !== process.pid && isRunning(owner)) {
    reporter.step(`Asking the foreground stack (pid ${state.ownerPid}) to stop`)
    process.kill(state.ownerPid, 'SIGTERM')
    const deadline = Date.now() + 60_000
    while (isRunning(owner) && Date.now() < deadline) await sleep(50)
  }
  // Whatever the owner left behind (or everything, for a background stack) is stopped here.
  const left = readState(stateFile)
  if (left) {
    reporter.step('Stopping the stack: nginx, then the replicas, then Redis and PostgreSQL')
    await stopComponents(left.components, reporter)
    removeState(stateFile)
  }
  return true
}

/** One component as `status` shows it. */
export interface ComponentStatus extends ComponentState {
  running: boolean
  healthy: boolean
  /** A Redis Cluster node's role now, as the cluster sees it: `master`, `replica` or `failed`. */
  role?: string
}

/** The recorded stack with each component's liveness and health; undefined when none is recorded. */
export async function stackStatus(
  config: Pick<StackConfig, 'dataDir' | 'rootDir'>,
): Promise<{ state: StackState; components: ComponentStatus[] } | undefined> {
  const paths = stackPaths(config)
  const state = readState(paths.stateFile)
  if (!state) return undefined
  const psqlBinary = findPsql()
  const credentials = readCredentials(paths.credentialsFile)
  const components: ComponentStatus[] = await Promise.all(
    state.components.map(async (component) => {
      const running = isRunning(component)
      const healthy = running && (await isHealthy(component, psqlBinary, credentials))
      return { ...component, running, healthy }
    }),
  )
  if (state.options.redis === 'cluster' && credentials) {
    const roles = await clusterRoles(components, credentials.redis.adminPassword)
    for (const component of components) {
      const role = roles.get(component.port)
      if (component.kind === 'redis' && role) component.role = role
    }
  }
  return { state, components }
}

/**
 * Each cluster node's role by port, as the first healthy node sees the cluster (failovers change
 * them); empty when no node answers.
 */
async function clusterRoles(
  components: readonly ComponentStatus[],
  adminPassword: string,
): Promise<Map<number, string>> {
  const asked = components.find((component) => component.kind === 'redis' && component.healthy)
  if (!asked) return new Map()
  const auth = { user: 'default', password: adminPassword }
  const entries = await withNode(asked.port, auth, clusterNodes).catch(() => [])
  return new Map(
    entries.map((entry) => {
      if (entry.flags.some((flag) => flag.startsWith('fail'))) return [entry.port, 'failed']
      return [entry.port, entry.flags.includes('master') ? 'master' : 'replica']
    }),
  )
}
