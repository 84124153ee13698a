import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RunAs } from '@strata/test-servers'
import { openLogFile } from './log-files.js'
import {
  hasProc,
  liveGroupMembers,
  processStartTime,
  processTree,
  readProcStat,
} from './processes.js'

/** A process the stack started, identified well enough to find it again from another process. */
export interface DaemonIdentity {
  pid: number
  /**
   * The kernel's start time of the process (`/proc/<pid>/stat` field 22). A pid alone is not
   * enough: after a crash and a reboot, or a long time, the pid can belong to someone else.
   */
  startTime: string | undefined
}

/** What to start and where its output goes. */
export interface DaemonSpec {
  command: string
  args: readonly string[]
  cwd: string
  env: Readonly<Record<string, string | undefined>>
  logFile: string
  logMode: 'truncate' | 'append'
  /** Run as this user (PostgreSQL refuses to run as root). */
  user?: RunAs | undefined
}

/** A started daemon plus its ChildProcess, for noticing an early exit while waiting for health. */
export interface StartedDaemon extends DaemonIdentity {
  child: ChildProcess
}

/**
 * Starts a long-running process in its own process group, writing stdout and stderr to its log.
 *
 * Its own group is what makes shutdown orderly: Ctrl-C reaches only the CLI, which then stops
 * components in order, instead of the terminal signalling every component at once. It also lets
 * `stack up` return while the components keep running, and lets us clean up a component's whole
 * tree (nginx workers, PostgreSQL backends) with one group signal.
 */
export async function startDaemon(spec: DaemonSpec): Promise<StartedDaemon> {
  const out = openLogFile(spec.logFile, spec.logMode)
  let child: ChildProcess
  try {
    child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', out, out],
      ...(spec.user ?? {}),
    })
  } finally {
    // The child has its own copy of the descriptor now.
    closeSync(out)
  }
  const pid = child.pid
  if (pid === undefined) {
    // spawn reports ENOENT/EACCES asynchronously, through 'error'.
    const error = await new Promise<Error>((resolve) => child.once('error', resolve))
    throw new Error(`could not run ${spec.command}: ${error.message}`, { cause: error })
  }
  child.on('error', () => {
    // Errors after a successful spawn (a failed kill) are seen through exit codes and health.
  })
  // The CLI must be able to exit (`stack up`) while the daemon keeps running.
  child.unref()
  return { pid, startTime: processStartTime(pid), child }
}

/**
 * True while the process runs. A zombie counts as gone: it has exited and only waits for its
 * parent (possibly a still-running `pnpm start`) to collect its status.
 */
export function isRunning(daemon: DaemonIdentity): boolean {
  if (hasProc()) {
    const stat = readProcStat(daemon.pid)
    if (!stat || stat.state === 'Z' || stat.state === 'X') return false
    return daemon.startTime === undefined || stat.startTime === daemon.startTime
  }
  try {
    process.kill(daemon.pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Pids of the live (non-zombie) members of a process group. */
function groupMembers(pgid: number): number[] {
  if (hasProc()) return liveGroupMembers(pgid)
  try {
    process.kill(-pgid, 0)
    return [pgid]
  } catch {
    return []
  }
}

/**
 * Signals a process and every live descendant, found through /proc (just the process where
 * there is none). Not the process group: PostgreSQL's backends each leave the postmaster's
 * group (they call setsid), so freezing a PostgreSQL means signalling its tree.
 */
export function signalTree(pid: number, signal: NodeJS.Signals): void {
  const tree = hasProc() ? processTree(pid) : [pid]
  for (const member of tree) {
    try {
      process.kill(member, signal)
    } catch {
      // Exited since /proc was read.
    }
  }
}

const signalGroup = (pgid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // The group is already empty.
  }
}

/** How to stop one daemon. */
export interface StopOptions {
  /** The daemon's own graceful signal (nginx: SIGQUIT, PostgreSQL: SIGINT, others: SIGTERM). */
  signal: NodeJS.Signals
  /** How long to wait for a graceful exit before SIGKILL, in milliseconds. */
  graceMs: number
}

/** How a stop went, for the progress output. */
export type StopOutcome = 'not-running' | 'stopped' | 'killed'

/**
 * Stops a daemon started by `startDaemon` (by this process or another one): the graceful signal
 * to the leader, SIGKILL to the whole group after `graceMs`, and in every case it waits until no
 * process of the group is left, so a port or data directory is free when this returns.
 */
export async function stopDaemon(
  daemon: DaemonIdentity,
  options: StopOptions,
): Promise<StopOutcome> {
  // The leader's pid is the group id (setsid in startDaemon); a reused pid has another start time.
  const pgid = daemon.pid
  if (!isRunning(daemon)) {
    // A crashed leader can leave its group behind (nginx workers after a SIGKILLed master).
    await reapGroup(pgid, 2_000)
    return 'not-running'
  }
  try {
    process.kill(daemon.pid, options.signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPERM') {
      throw new Error(
        `not allowed to signal pid ${daemon.pid}: run this as the user who started the stack`,
      )
    }
    return 'not-running'
  }
  const deadline = Date.now() + options.graceMs
  while (Date.now() < deadline && isRunning(daemon)) await sleep(25)
  let outcome: StopOutcome = 'stopped'
  if (isRunning(daemon)) {
    outcome = 'killed'
    signalGroup(pgid, 'SIGKILL')
    await waitUntilGone(() => isRunning(daemon))
  }
  await reapGroup(pgid, 2_000)
  return outcome
}

/** Sends SIGKILL at once, as a crash would. Resolves when the whole group is gone. */
export async function killDaemon(daemon: DaemonIdentity): Promise<void> {
  if (isRunning(daemon)) signalGroup(daemon.pid, 'SIGKILL')
  await waitUntilGone(() => isRunning(daemon))
  await reapGroup(daemon.pid, 2_000)
}

/** Gives members outliving their leader a moment to exit on their own, then kills them. */
async function reapGroup(pgid: number, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs
  while (groupMembers(pgid).length > 0 && Date.now() < deadline) await sleep(25)
  if (groupMembers(pgid).length === 0) return
  signalGroup(pgid, 'SIGKILL')
  await waitUntilGone(() => groupMembers(pgid).length > 0)
}

/**
 * Waits for SIGKILLed processes to vanish. That takes milliseconds, except for a process stuck in
 * the kernel (uninterruptible I/O), which nothing can kill; then we stop waiting after 10 s rather
 * than hang the shutdown.
 */
async function waitUntilGone(alive: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000
  while (alive() && Date.now() < deadline) await sleep(10)
}
