import { type ChildProcess, spawn } from 'node:child_process'
import { openSync } from 'node:fs'

/** A child process this package started and must stop. */
export interface Child {
  name: string
  process: ChildProcess
}

/** Starts a long-running child with its output in `logFile`. */
export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  options: { cwd: string; env: Readonly<Record<string, string | undefined>>; logFile: string },
): Child {
  const fd = openSync(options.logFile, 'a')
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env as NodeJS.ProcessEnv,
    stdio: ['ignore', fd, fd],
  })
  child.on('error', () => {})
  return { name, process: child }
}

/** Stops a child with `signal`, then SIGKILL after `graceMs`; resolves once it has exited. */
export function stopChild(
  child: Child,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  const proc = child.process
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
    proc.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    proc.kill(signal)
  })
}

/** Polls `check` every 100 ms until it resolves true; throws after `timeoutMs` naming `what`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${what} was not ready after ${timeoutMs / 1000} s`)
}
