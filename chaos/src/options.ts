import { parseArgs } from 'node:util'
import { FAULT_NAMES, type FaultName } from './fault.js'

/** What `pnpm chaos` was asked to do. */
export interface ChaosOptions {
  help: boolean
  /** Faults to run, in the catalogue's order; all by default. */
  faults: FaultName[]
  /** Phases before and after each fault, ms. */
  phaseMs: number
  /** How long a fault that is undone is held, ms. */
  holdMs: number
  rate: number
  latencyMs: number
  stalenessBoundMs: number
  seed: number
  /** Set for `--soak D`: the soak's duration, ms. */
  soakMs: number | undefined
}

/** A command line that cannot be run; the CLI prints it and exits 2. */
export class UsageError extends Error {
  static readonly code = 'E_USAGE'
  readonly code = UsageError.code
}

export const HELP = `pnpm chaos [options]
  Injects faults into a throw-away 3-replica stack (PostgreSQL, Redis, nginx on free ports)
  under a steady read/write load through nginx, records every request, and checks the history
  against Strata's guarantees. Each fault runs on a fresh stack: a phase of load, the fault, a
  phase after it. Prints a table; writes JSON + markdown to chaos/results/<time>/ and latest/.

  Faults (all by default, in this order):
    redis-kill        SIGKILL Redis mid-load, restart it after --hold (empty)
    redis-freeze      SIGSTOP Redis for --hold, then SIGCONT: calls must fail fast
    subscriber-kill   CLIENT KILL TYPE pubsub on replica-2's subscriber; over when it resubscribed
    replica-kill      SIGKILL replica-2, restart it after --hold
    postgres-restart  stop PostgreSQL for --hold, start it: cached reads go on, writes get 503
    redis-latency     +--latency each way on every replica's Redis link, for --hold
    redis-partition   replica-2's Redis link stalled for --hold (nothing passes, nothing closes)
    postgres-latency  +300 ms on every reply on replica-2's PostgreSQL link for --hold (and
                      +25 ms on replicas 1 and 3's queries), while replica-2 reads a hot key that
                      replicas 1 and 3 write (sent to each directly): issue 11, item 2
    postgres-freeze   SIGSTOP PostgreSQL (every process) for 2 s, then SIGCONT: cached reads go on,
                      writes are acked, refused with 503 or (frozen mid-COMMIT) of unknown outcome
    commit-reply-lost replica-2's PostgreSQL link forwards COMMIT and is cut before the reply,
                      3 times: those writes are of unknown outcome (504), never refused
                      (the checker finds a refused write that committed)
    replica-pause     SIGSTOP replica-2 for 1.5 s while replicas 1 and 3 write its hot key; once
                      thawed it must not serve what its lapsed lease no longer covers
    compound          (a) every subscriber dropped (CLIENT KILL TYPE pubsub) and Redis killed,
                      restarted 1.5 s later; then (b) replica-2 frozen 1.5 s while Redis is killed
                      and restarted; over when every replica serves again

Options:
  --fault NAME     run only this fault; repeat for several
  --duration D     length of the phase before and of the phase after each fault (default 10s)
  --hold D         how long a fault is held before it is undone (default 5s)
  --rate N         requests per second, 20% writes (default 200; soak: 400)
  --latency D      delay added each way by redis-latency (default 25ms)
  --bound D        staleness bound the checker holds every replica to (default 100ms)
  --seed N         seed of the request sequence (default 1)
  --soak D         instead of the faults: a steady mixed load for D (e.g. 10m) checking that
                   RSS per replica stays flat (< 10% growth after a 20% warm-up), no event-loop
                   delay exceeds 100 ms, and no request fails
  -h, --help       show this help

Durations: 500ms, 10s, 2m, 1m30s (a bare number is seconds).
Exit status: 0 every guarantee held, 1 one was broken (the table says which), 2 bad usage,
130 interrupted.`

/**
 * Milliseconds from `500ms`, `10s`, `2m`, `1m30s`, or a bare number of seconds.
 * @example duration('--hold', '1m30s') // 90_000
 */
export function duration(option: string, text: string): number {
  const bare = Number(text)
  if (text.trim() !== '' && Number.isFinite(bare)) return Math.round(bare * 1000)
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
  let total = 0
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, (_, amount: string, unit: string) => {
    total += Number(amount) * (units[unit] ?? Number.NaN)
    return ''
  })
  if (text === '' || rest !== '' || !Number.isFinite(total))
    throw new UsageError(`${option}: not a duration: ${JSON.stringify(text)} (e.g. 10s, 2m, 500ms)`)
  return Math.round(total)
}

function positive(option: string, text: string): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`${option}: expected a positive number (got ${JSON.stringify(text)})`)
  return value
}

/** Parses the command line; throws `UsageError` naming the option at fault. */
export function parseChaosArgs(argv: readonly string[]): ChaosOptions {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: false }>>
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false })
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see --help)`)
  }
  const { values } = parsed
  const faults = values.fault ?? []
  for (const name of faults) {
    if (!(FAULT_NAMES as readonly string[]).includes(name))
      throw new UsageError(
        `--fault: unknown fault ${JSON.stringify(name)}; one of ${FAULT_NAMES.join(', ')}`,
      )
  }
  const soakMs = values.soak === undefined ? undefined : duration('--soak', values.soak)
  return {
    help: values.help ?? false,
    faults: FAULT_NAMES.filter((name) => faults.length === 0 || faults.includes(name)),
    phaseMs: duration('--duration', values.duration ?? '10s'),
    holdMs: duration('--hold', values.hold ?? '5s'),
    rate: positive('--rate', values.rate ?? (soakMs === undefined ? '200' : '400')),
    latencyMs: duration('--latency', values.latency ?? '25ms'),
    stalenessBoundMs: duration('--bound', values.bound ?? '100ms'),
    seed: Math.trunc(positive('--seed', values.seed ?? '1')),
    soakMs,
  }
}

const OPTIONS = {
  fault: { type: 'string', multiple: true },
  duration: { type: 'string' },
  hold: { type: 'string' },
  rate: { type: 'string' },
  latency: { type: 'string' },
  bound: { type: 'string' },
  seed: { type: 'string' },
  soak: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const
