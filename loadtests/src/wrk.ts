import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'

/** What one wrk run measured. */
export interface WrkResult {
  rps: number
  requests: number
  /** Non-2xx/3xx responses plus socket errors. */
  errors: number
  p50_ms: number
  p99_ms: number
  /** What a script printed in its `done()` as one `WRK_MIX {json}` line, when it did. */
  script_report?: Record<string, number>
}

/** wrk's path, or undefined when it is not installed. */
export const findWrk = (): string | undefined =>
  ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((path) => existsSync(path))

/** Runs `wrk --latency` against one URL and parses its report. */
export function runWrk(
  wrk: string,
  url: string,
  options: {
    threads: number
    connections: number
    durationS: number
    /** A Lua script (`-s`) and its arguments (after `--`). */
    script?: { path: string; args: readonly string[] }
  },
): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const args = [
      `-t${options.threads}`,
      `-c${options.connections}`,
      `-d${options.durationS}s`,
      '--latency',
      '--timeout',
      '5s',
      ...(options.script ? ['-s', options.script.path] : []),
      url,
      ...(options.script ? ['--', ...options.script.args] : []),
    ]
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), (options.durationS + 30) * 1000)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) {
        reject(new Error(`wrk ${args.join(' ')} exited with ${code}:\n${out}`))
        return
      }
      try {
        resolve(parseWrk(out))
      } catch (error) {
        reject(error)
      }
    })
  })
}

const toMs = (value: string, unit: string) =>
  Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? Number.NaN)

/** Parses wrk's text report. */
export function parseWrk(text: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text)
  const total = /(\d+) requests in/.exec(text)
  if (!rps || !total) throw new Error(`could not read wrk's report:\n${text}`)
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const socketErrors = socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text)
    return match ? toMs(match[1] ?? '', match[2] ?? '') : Number.NaN
  }
  const report = /^WRK_MIX (\{.*\})$/m.exec(text)?.[1]
  return {
    ...(report ? { script_report: JSON.parse(report) as Record<string, number> } : {}),
    rps: Number(rps[1]),
    requests: Number(total[1]),
    errors: non2xx + socketErrors,
    p50_ms: percentile('50'),
    p99_ms: percentile('99'),
  }
}
