import { existsSync, readdirSync, readFileSync } from 'node:fs'

/**
 * The one reader of /proc for every tool: the stack runner (is a daemon still the one it started,
 * which processes are in its group or tree), the load tests (CPU time of a stack's processes)
 * and the end-to-end tests (did a stop leave anything behind). Linux only; elsewhere the
 * functions say "nothing known" and their callers fall back (see daemons.ts).
 */

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_SECOND = 100

/** The fields of `/proc/<pid>/stat` the tools use. */
export interface ProcStat {
  pid: number
  /** `R`, `S`, `T` (stopped by a signal), `Z` (zombie), … */
  state: string
  ppid: number
  pgrp: number
  /** The kernel's start time (field 22), which tells a reused pid from the process it was. */
  startTime: string
  /** utime + stime, in ticks. */
  cpuTicks: number
}

/** Parses `/proc/<pid>/stat`; undefined when the process is gone or /proc is not there. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses:
  // fields are counted after the last ')'. fields[0] is field 3 (state).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const [state, ppid, pgrp] = fields
  const startTime = fields[19]
  if (state === undefined || ppid === undefined || pgrp === undefined || startTime === undefined)
    return undefined
  const cpuTicks = Number(fields[11]) + Number(fields[12])
  return { pid, state, ppid: Number(ppid), pgrp: Number(pgrp), startTime, cpuTicks }
}

/** True where /proc can be read (Linux). */
export const hasProc = (): boolean => existsSync('/proc/self/stat')

/** Exited, waiting for its parent to collect it, or being torn down: not running. */
const isDead = (stat: ProcStat): boolean => stat.state === 'Z' || stat.state === 'X'

/** Every process in /proc, zombies included; empty off Linux. */
export function processTable(): ProcStat[] {
  if (!hasProc()) return []
  const table: ProcStat[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readProcStat(Number(entry))
    if (stat) table.push(stat)
  }
  return table
}

/** Every live (non-zombie) process. */
export const liveProcesses = (): ProcStat[] => processTable().filter((stat) => !isDead(stat))

/** The kernel start time of a process, or undefined where there is no /proc (macOS). */
export const processStartTime = (pid: number): string | undefined => readProcStat(pid)?.startTime

/**
 * True while a process runs; a zombie (exited, not yet collected) counts as gone. Independent of
 * the stack's own bookkeeping (daemons.ts also compares start times), for tests that check it.
 */
export function processRuns(pid: number): boolean {
  const stat = readProcStat(pid)
  return stat !== undefined && !isDead(stat)
}

/** Live processes whose process group is `pgid` (a daemon and its children: nginx workers, …). */
export const liveGroupMembers = (pgid: number): number[] =>
  liveProcesses()
    .filter((stat) => stat.pgrp === pgid)
    .map((stat) => stat.pid)

/** `pid` and every live descendant, parents before children. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const stat of liveProcesses())
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat.pid])
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []))
  return tree
}

/** `roots` and their direct children (nginx's workers, PostgreSQL's backends); `roots` off Linux. */
export function withChildren(roots: readonly number[]): number[] {
  const wanted = new Set(roots)
  const children = processTable()
    .filter((stat) => wanted.has(stat.ppid) && !wanted.has(stat.pid))
    .map((stat) => stat.pid)
  return [...roots, ...children]
}

/** Resident memory of these processes together, in bytes (VmRSS from /proc; Linux only). */
export function residentBytes(pids: readonly number[]): number {
  let total = 0
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    total += Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024
  }
  return total
}

/**
 * CPU time, in milliseconds, used so far by each process in `roots` and its direct children
 * (nginx's workers, PostgreSQL's backends). Linux only; 0 elsewhere. A child that exited in
 * between is missed, which the long-lived processes of a stack make rare.
 *
 * Summed from each thread's `schedstat` (nanoseconds): `stat`'s clock ticks are 10 ms, coarser
 * than what a quiet Redis uses in a one-second measurement, which then reads 0. A process whose
 * threads cannot be read counts by its ticks.
 */
export function cpuMillis(roots: readonly number[]): number {
  if (roots.length === 0) return 0
  const wanted = new Set(roots)
  let millis = 0
  for (const stat of processTable())
    if (wanted.has(stat.pid) || wanted.has(stat.ppid))
      millis += threadsCpuMillis(stat.pid) ?? (stat.cpuTicks * 1000) / TICKS_PER_SECOND
  return millis
}

/** CPU time of every live thread of `pid`, in milliseconds; undefined when unreadable. */
function threadsCpuMillis(pid: number): number | undefined {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  let nanos = 0
  let read = 0
  for (const tid of tids) {
    try {
      const schedstat = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')
      nanos += Number(schedstat.slice(0, schedstat.indexOf(' ')))
      read++
    } catch {
      // The thread ended since listed (its CPU time is lost to later samples: a delta over a
      // thread's exit under-counts; a stack's processes keep their threads).
    }
  }
  return read > 0 && Number.isFinite(nanos) ? nanos / 1e6 : undefined
}

/** The command lines of a process and every live member of its group, for secrets in `ps`. */
export function commandLines(pids: readonly number[]): string[] {
  const lines: string[] = []
  for (const pid of new Set(pids.flatMap((leader) => [leader, ...liveGroupMembers(leader)]))) {
    try {
      lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '))
    } catch {
      // Gone since listed.
    }
  }
  return lines
}
