import { type ChildProcess, spawnSync } from 'node:child_process'
import { closeSync } from 'node:fs'
import type { RunAs } from '@strata/test-servers'
import type { Binaries } from '../binaries.js'
import type { StackConfig } from '../config.js'
import type { StackConnectionUrls, StackCredentials } from '../credentials.js'
import {
  type StartedDaemon,
  type StopOptions,
  type StopOutcome,
  startDaemon,
  stopDaemon,
} from '../daemons.js'
import { componentFailed, StackError } from '../errors.js'
import { openLogFile } from '../log-files.js'
import { waitFor } from '../probes.js'
import type { Reporter } from '../reporter.js'
import type { ComponentKind, ComponentState } from '../state.js'

/** What every component start needs. */
export interface StartContext {
  config: StackConfig
  binaries: Binaries
  reporter: Reporter
  /** Passwords of the PostgreSQL and Redis the stack starts (unused for external ones). */
  credentials: StackCredentials
  /** Their URLs, credentials included. */
  urls: StackConnectionUrls
  /** Aborts a start-up that is waiting for a component (Ctrl-C during `pnpm start`). */
  signal?: AbortSignal | undefined
  /**
   * Called as soon as a component's process exists, before it is healthy, so it is on record
   * (and `stack down` can stop it) even if this process dies while waiting.
   */
  onSpawned?: ((component: ComponentState) => void) | undefined
}

/** A component this process started: its recorded state and the child process handle. */
export interface RunningComponent {
  state: ComponentState
  child: ChildProcess
}

/** Start order; stopping goes the other way: nginx, replicas, Redis, PostgreSQL. */
export const START_ORDER: readonly ComponentKind[] = ['postgres', 'redis', 'replica', 'nginx']

/** Start order, then number (`replica-2` before `replica-10`): the order `status` lists them in. */
export const byStartOrder = (a: ComponentState, b: ComponentState): number =>
  START_ORDER.indexOf(a.kind) - START_ORDER.indexOf(b.kind) ||
  a.name.localeCompare(b.name, 'en', { numeric: true })

/** Each component's graceful signal and patience before SIGKILL. */
export const STOP: Record<ComponentKind, StopOptions> = {
  // SIGQUIT: finish in-flight requests, then exit (SIGTERM would drop them).
  nginx: { signal: 'SIGQUIT', graceMs: 10_000 },
  // The API drains on SIGTERM (readiness 503, in-flight requests finish, SHUTDOWN_TIMEOUT 10 s).
  replica: { signal: 'SIGTERM', graceMs: 20_000 },
  redis: { signal: 'SIGTERM', graceMs: 10_000 },
  // SIGINT is PostgreSQL's fast shutdown: it disconnects clients instead of waiting for them.
  postgres: { signal: 'SIGINT', graceMs: 20_000 },
}

/** Stops one component with its own graceful signal. */
export const stopComponent = (component: ComponentState): Promise<StopOutcome> =>
  stopDaemon(component, STOP[component.kind])

/**
 * Stops components in the safe order: nginx first (no new traffic), then the replicas together
 * (each drains), then Redis and PostgreSQL, which the replicas needed until they were gone.
 */
export async function stopComponents(
  components: readonly ComponentState[],
  reporter: Reporter,
): Promise<void> {
  for (const kind of [...START_ORDER].reverse()) {
    const group = components.filter((component) => component.kind === kind)
    await Promise.all(
      group.map(async (component) => {
        const started = Date.now()
        const outcome = await stopComponent(component)
        const took = `${((Date.now() - started) / 1000).toFixed(1)} s`
        if (outcome === 'stopped')
          reporter.info(`stopped ${component.name} (pid ${component.pid}, ${took})`)
        else if (outcome === 'killed')
          reporter.warn(
            `${component.name} (pid ${component.pid}) ignored ${STOP[kind].signal}; killed it`,
          )
        else reporter.info(`${component.name} (pid ${component.pid}) was not running`)
      }),
    )
  }
}

/** How to start one component and tell when it is ready. */
export interface LaunchSpec {
  name: string
  kind: ComponentKind
  port: number
  url: string
  logFile: string
  /** More logs worth showing on failure (nginx's error.log). */
  extraLogFiles?: string[]
  logMode: 'truncate' | 'append'
  command: string
  args: string[]
  cwd: string
  env: Record<string, string | undefined>
  user?: RunAs | undefined
  ready: () => Promise<boolean>
}

/** Starts a daemon and waits until it is healthy; on failure kills it and explains with its log. */
export async function launch(ctx: StartContext, spec: LaunchSpec): Promise<RunningComponent> {
  const started = Date.now()
  ctx.reporter.step(`Starting ${spec.name} on port ${spec.port}`)
  let daemon: StartedDaemon
  try {
    daemon = await startDaemon({ ...spec })
  } catch (error) {
    throw componentFailed(
      spec.name,
      (error as Error).message,
      [spec.logFile, ...(spec.extraLogFiles ?? [])],
      error,
    )
  }
  const state: ComponentState = {
    name: spec.name,
    kind: spec.kind,
    pid: daemon.pid,
    startTime: daemon.startTime,
    port: spec.port,
    url: spec.url,
    logFile: spec.logFile,
  }
  ctx.onSpawned?.(state)
  try {
    await waitFor(spec.ready, {
      timeoutMs: ctx.config.startupTimeoutMs,
      signal: ctx.signal,
      failFast: () => exitReason(daemon.child),
    })
  } catch (error) {
    await stopDaemon(state, { signal: 'SIGKILL', graceMs: 0 })
    if (error instanceof StackError) throw error
    throw componentFailed(
      spec.name,
      (error as Error).message,
      [spec.logFile, ...(spec.extraLogFiles ?? [])],
      error,
    )
  }
  ctx.reporter.info(
    `${spec.name} ready at ${spec.url} (pid ${daemon.pid}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  )
  return { state, child: daemon.child }
}

/** "exited with code 1" once the child has exited, else undefined. */
export function exitReason(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exited with code ${child.exitCode}`
  if (child.signalCode !== null) return `was killed by ${child.signalCode}`
  return undefined
}

/** Runs a one-shot command (initdb, nginx -t) with its output in the component's log. */
export function runToLog(
  command: string,
  args: string[],
  logFile: string,
  user: RunAs | undefined,
  component: string,
): void {
  const fd = openLogFile(logFile, 'truncate')
  try {
    const result = spawnSync(command, args, { stdio: ['ignore', fd, fd], ...(user ?? {}) })
    if (result.error)
      throw componentFailed(component, `could not run ${command}: ${result.error.message}`, logFile)
    if (result.status !== 0) {
      const shown = `${command.split('/').pop()} ${args.join(' ')}`
      throw componentFailed(
        component,
        `\`${shown}\` failed with exit status ${result.status ?? result.signal}`,
        logFile,
      )
    }
  } finally {
    closeSync(fd)
  }
}
