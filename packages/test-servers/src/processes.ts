import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** Asks the kernel for a TCP port that is free right now on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** True when nothing listens on 127.0.0.1:`port` now: binding it succeeds. */
export const portIsFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })

/** Resolves once something accepts TCP connections on the port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    await sleep(50)
  }
  throw new Error(`${what} did not accept connections on port ${port} within ${timeoutMs} ms`)
}

/** Finds an executable on PATH or in the given extra directories; undefined when absent. */
export function findBinary(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...extraDirs]
  for (const dir of dirs) {
    const candidate = `${dir}/${name}`
    if (dir && existsSync(candidate)) return candidate
  }
  return undefined
}

/** PostgreSQL's server binaries live outside PATH on Debian; newest major version first. */
export function postgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return []
  return readdirSync(root)
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => `${root}/${version}/bin`)
}

/** True when this process runs as root, where PostgreSQL refuses to start. */
export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0

/** A system user to run a child as: PostgreSQL refuses to run as root. */
export interface RunAs {
  uid: number
  gid: number
}

/** Resolves a system user's uid and gid by name. */
export function lookupUser(name: string): RunAs {
  const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim()
  const [, , uid, gid] = line.split(':')
  if (uid === undefined || gid === undefined) throw new Error(`no system user named ${name}`)
  return { uid: Number(uid), gid: Number(gid) }
}

/** Runs a command to completion, as `user` when given. */
export function runAs(user: RunAs | undefined, file: string, args: string[]): string {
  return execFileSync(file, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(user ?? {}),
  })
}

/** Starts a long-running child, as `user` when given, with its output kept for error messages. */
export function spawnAs(user: RunAs | undefined, file: string, args: string[]): SpawnedProcess {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return { child, output: () => output }
}

/** A child process plus the tail of what it printed. */
export interface SpawnedProcess {
  child: ChildProcess
  output(): string
}

/** Sends `signal` and resolves when the process has exited (SIGKILL after `graceMs`). */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/**
 * One server process at a time, listening on `port`: `start` runs what `spawn` spawns and waits
 * until it accepts connections (or kills it and fails with its output); `halt` stops it.
 */
export function serverProcess(what: string, port: number, startTimeoutMs: number) {
  let current: SpawnedProcess | undefined
  return {
    async start(spawn: () => SpawnedProcess): Promise<void> {
      const spawned = spawn()
      current = spawned
      try {
        await waitForPort(port, startTimeoutMs, what)
      } catch (error) {
        await stopProcess(spawned.child, 'SIGKILL')
        current = undefined
        throw new Error(`${(error as Error).message}\n${spawned.output()}`)
      }
    },
    async halt(signal: NodeJS.Signals): Promise<void> {
      if (current) await stopProcess(current.child, signal)
      current = undefined
    },
  }
}
