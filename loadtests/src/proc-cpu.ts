import { readdirSync, readFileSync } from 'node:fs'

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_SECOND = 100

/** [ppid, utime + stime] of a process from /proc/<pid>/stat; undefined when it is gone. */
function statOf(pid: number): [number, number] | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return [Number(fields[1]), Number(fields[11]) + Number(fields[12])]
}

/** Each process in /proc, as [pid, ppid, utime + stime]; empty off Linux. */
function processTable(): Array<[number, number, number]> {
  if (process.platform !== 'linux') return []
  const table: Array<[number, number, number]> = []
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    const stat = statOf(pid)
    if (stat) table.push([pid, stat[0], stat[1]])
  }
  return table
}

/**
 * CPU time, in milliseconds, used so far by each process in `roots` and its direct children
 * (nginx's workers, PostgreSQL's backends). Linux only; 0 elsewhere. A child that exited in
 * between is missed, which the long-lived processes of a stack make rare.
 */
export function cpuMillis(roots: readonly number[]): number {
  if (roots.length === 0) return 0
  const wanted = new Set(roots)
  let ticks = 0
  for (const [pid, ppid, cpu] of processTable())
    if (wanted.has(pid) || wanted.has(ppid)) ticks += cpu
  return (ticks * 1000) / TICKS_PER_SECOND
}

/** `roots` and their direct children (nginx's workers, PostgreSQL's backends); `roots` off Linux. */
export function withChildren(roots: readonly number[]): number[] {
  const wanted = new Set(roots)
  const children = processTable()
    .filter(([pid, ppid]) => wanted.has(ppid) && !wanted.has(pid))
    .map(([pid]) => pid)
  return [...roots, ...children]
}
