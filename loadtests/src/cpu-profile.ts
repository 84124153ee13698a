import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  /** Monotonic clock, µs: the same clock as `process.hrtime()` on Linux. */
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

/** What a group of processes did while it was measured. */
export interface GroupInput {
  pids: number[]
  /** Measurement windows on the monotonic clock, µs (`process.hrtime.bigint() / 1000n`). */
  windows: Array<[number, number]>
  /** Requests served in those windows. */
  requests: number
}

/** Where one group of processes (one side of the benchmark) spent its CPU. Times in ms. */
export interface GroupProfile {
  group: string
  processes: number
  requests: number
  /** Sampled time that was not idle, inside the measurement windows. */
  busy_ms: number
  /** CPU per request, µs. */
  us_per_request: number
  /** Self time by category (package, file of ours, Node internals, GC), largest first. */
  self: Array<{ category: string; us_per_request: number; share: number }>
  /** Functions of ours and of packages by inclusive time (callees counted), largest first. */
  inclusive: Array<{ fn: string; us_per_request: number; share: number }>
}

export interface CpuProfileReport {
  groups: GroupProfile[]
}

const ROOTS = new Set(['(root)', '(program)', '(idle)', '(garbage collector)'])

/** The category of a frame: a package name, a file of ours, a Node internal, or a V8 bucket. */
export function categoryOf(frame: CallFrame): string {
  const { url, functionName } = frame
  if (ROOTS.has(functionName) && url === '')
    return functionName === '(program)' ? '(program: V8/native)' : functionName
  if (url === '') return 'V8 builtins / native'
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg) return pkg[1] ?? url
  const ours = /\/(apps\/api|packages\/[^/]+|loadtests\/bare)\/(?:dist|src)?\/?(.+)$/.exec(url)
  if (ours) return `${ours[1]}/${ours[2]?.replace(/\.js$/, '')}`
  if (url.startsWith('node:')) {
    const path = url.slice(5).replace(/^internal\//, '')
    const top = path.split('/')[0] ?? path
    return `node:${top === 'deps' ? path.split('/').slice(0, 2).join('/') : top}`
  }
  return url
}

const frameName = (frame: CallFrame) => {
  const category = categoryOf(frame)
  return `${frame.functionName || '(anonymous)'} · ${category}:${frame.lineNumber + 1}`
}

/**
 * Reads every `.cpuprofile` in `dir` whose pid belongs to a group and sums self and inclusive
 * time per group, counting only samples inside the group's measurement windows (start-up, and
 * the timers that tick while the other side is measured, are left out).
 */
export function analyzeProfiles(dir: string, groups: Record<string, GroupInput>): CpuProfileReport {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  const report: CpuProfileReport = { groups: [] }
  for (const [group, input] of Object.entries(groups)) {
    const { pids, windows } = input
    const inWindow = (t: number) => windows.some(([from, to]) => t >= from && t <= to)
    // CPU.<pid>.cpuprofile (our preload) or CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile (--cpu-prof).
    const pidOf = (file: string) => Number(/^CPU\.(?:\d+\.\d+\.)?(\d+)\./.exec(file)?.[1])
    const mine = files.filter((f) => pids.includes(pidOf(f)))
    const self = new Map<string, number>()
    const inclusive = new Map<string, number>()
    let busy = 0
    for (const file of mine) {
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
      const byId = new Map<number, ProfileNode>()
      const parent = new Map<number, number>()
      for (const node of profile.nodes) {
        byId.set(node.id, node)
        for (const child of node.children ?? []) parent.set(child, node.id)
      }
      let clock = profile.startTime
      profile.samples.forEach((id, i) => {
        const micros = profile.timeDeltas[i] ?? 0
        clock += micros
        const node = byId.get(id)
        if (!node || node.callFrame.functionName === '(idle)' || !inWindow(clock)) return
        busy += micros
        const category = categoryOf(node.callFrame)
        self.set(category, (self.get(category) ?? 0) + micros)
        // Inclusive: every distinct function on the stack gets the sample once.
        const seen = new Set<string>()
        for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
          const frame = byId.get(at)?.callFrame
          if (!frame || frame.url === '' || ROOTS.has(frame.functionName)) continue
          const name = frameName(frame)
          if (seen.has(name)) continue
          seen.add(name)
          inclusive.set(name, (inclusive.get(name) ?? 0) + micros)
        }
      })
    }
    const perRequest = (micros: number) =>
      input.requests === 0 ? 0 : Math.round((micros / input.requests) * 100) / 100
    const share = (micros: number) => (busy === 0 ? 0 : Math.round((micros / busy) * 1000) / 10)
    report.groups.push({
      group,
      processes: mine.length,
      requests: input.requests,
      busy_ms: Math.round(busy / 1000),
      us_per_request: perRequest(busy),
      self: [...self]
        .sort((a, b) => b[1] - a[1])
        .map(([category, micros]) => ({
          category,
          us_per_request: perRequest(micros),
          share: share(micros),
        })),
      inclusive: [...inclusive]
        .filter(([name]) => !name.includes('· node:'))
        .sort((a, b) => b[1] - a[1])
        .slice(0, 40)
        .map(([fn, micros]) => ({ fn, us_per_request: perRequest(micros), share: share(micros) })),
    })
  }
  return report
}

/** The report as text: per group, CPU per request by category and the heaviest functions. */
export function formatProfileReport(report: CpuProfileReport, top = 18): string {
  const lines: string[] = []
  const us = (n: number) => n.toFixed(1).padStart(7)
  for (const g of report.groups) {
    lines.push(
      `== ${g.group}: ${g.processes} processes, ${g.requests.toLocaleString('en-US')} requests, ` +
        `${(g.busy_ms / 1000).toFixed(2)} s of CPU while measured = ${g.us_per_request.toFixed(1)} µs per request`,
    )
    lines.push('   self time by category             µs/req   share')
    for (const s of g.self.slice(0, top)) {
      const name = s.category.padEnd(32).slice(0, 32)
      lines.push(`   ${name} ${us(s.us_per_request)}  ${s.share.toFixed(1).padStart(5)}%`)
    }
    lines.push('   inclusive time (callees counted), outside Node core')
    for (const f of g.inclusive.slice(0, top + 10)) {
      lines.push(`   ${us(f.us_per_request)} µs/req ${f.share.toFixed(1).padStart(5)}%  ${f.fn}`)
    }
    lines.push('')
  }
  return lines.join('\n')
}
