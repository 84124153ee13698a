import { execFile } from 'node:child_process'
import { createConnection } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { StackError } from './errors.js'

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function acceptsConnections(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.on('connect', () => done(true))
    socket.on('error', () => done(false))
  })
}

/** A Redis user and password, for probes of a Redis that requires them. */
export interface RedisAuth {
  user: string
  password: string
}

/** One command in Redis's protocol (RESP), so arguments may hold any character. */
const respCommand = (...args: string[]) =>
  `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`

/** True when a Redis server on 127.0.0.1:`port` answers PING, after AUTH when `auth` is given. */
export function redisAnswersPing(
  port: number,
  auth?: RedisAuth,
  timeoutMs = 1_000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.on('connect', () =>
      socket.write(
        (auth ? respCommand('AUTH', auth.user, auth.password) : '') + respCommand('PING'),
      ),
    )
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      const lines = reply.split('\r\n')
      const expected = auth ? 2 : 1
      if (lines.length <= expected) return
      done(lines.slice(0, expected).join(' ') === (auth ? '+OK +PONG' : '+PONG'))
    })
    socket.on('error', () => done(false))
  })
}

/** Where psql connects: 127.0.0.1 and the `postgres` superuser. */
export interface PsqlTarget {
  port: number
  password: string
}

/**
 * Runs SQL with psql over TCP as the `postgres` superuser; its trimmed output. The SQL goes
 * through stdin and the password through PGPASSWORD, so neither shows in the process list.
 */
export function psql(
  psqlBinary: string,
  target: PsqlTarget,
  database: string,
  sql: string,
): Promise<string> {
  const conninfo = `host=127.0.0.1 port=${target.port} user=postgres dbname=${database} connect_timeout=2`
  return new Promise((resolve, reject) => {
    const child = execFile(
      psqlBinary,
      ['-X', '-v', 'ON_ERROR_STOP=1', '-tA', '-f', '-', conninfo],
      {
        timeout: 10_000,
        env: { PGPASSWORD: target.password, PGCONNECT_TIMEOUT: '2' },
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(stderr.trim() || error.message))
        else resolve(stdout.trim())
      },
    )
    // psql may exit before reading (PostgreSQL still starting): its exit status tells, not EPIPE.
    child.stdin?.on('error', () => {})
    child.stdin?.end(sql)
  })
}

/** True when PostgreSQL on 127.0.0.1:`port` runs queries (not merely accepts TCP while starting up). */
export async function postgresAnswers(
  psqlBinary: string,
  port: number,
  password: string,
): Promise<boolean> {
  try {
    return (await psql(psqlBinary, { port, password }, 'postgres', 'SELECT 1')) === '1'
  } catch {
    return false
  }
}

/** What `waitFor` needs to give up early and to explain itself. */
export interface WaitOptions {
  timeoutMs: number
  /** Polling interval in milliseconds. @default 100 */
  intervalMs?: number
  /** Stops waiting as soon as this returns a reason (for example "exited with code 1"). */
  failFast?: () => string | undefined
  /** Stops waiting when the user interrupts the start-up. */
  signal?: AbortSignal | undefined
}

/**
 * Polls `check` until it returns true. Rejects with a reason when the deadline passes, when
 * `failFast` reports one (the process died: no point waiting out the deadline), or on abort.
 */
export async function waitFor(check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    if (options.signal?.aborted) throw new StackError('E_ABORTED', 'start-up interrupted')
    const failure = options.failFast?.()
    if (failure) throw new Error(failure)
    if (await check()) return
    if (Date.now() >= deadline)
      throw new Error(`not healthy after ${Math.round(options.timeoutMs / 1000)} s`)
    await sleep(options.intervalMs ?? 100)
  }
}
