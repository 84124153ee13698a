import { cpuMillis } from '@strata/stack/processes'
import { median } from '../median.js'
import { counterDelta, replicaCounters } from '../probes.js'
import type { Progress } from '../progress.js'
import { runWrk, type WrkResult } from '../wrk.js'
import type { Contender } from './limit-stacks.js'

/** One wrk measurement of a contender, with the CPU time its processes spent meanwhile. */
interface RoundResult extends WrkResult {
  l1_share?: number
  /** CPU µs per request of the app's processes, from /proc (Linux). */
  app_cpu_us: number
  /** CPU µs per request of nginx (master and workers). */
  nginx_cpu_us: number
}

/** What the rounds measured, by contender name. */
export interface RoundResults {
  results: Map<string, RoundResult[]>
  /** Monotonic µs, the clock of CPU profiles: the profile analysis keeps these windows only. */
  windows: Map<string, Array<[number, number]>>
}

/** How wrk drives each measurement. */
export interface WrkSettings {
  wrk: string
  rounds: number
  threads: number
  connections: number
  durationS: number
}

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n)

/** Rounds: every contender once per round, the order rotating so none always goes first. */
export async function measureRounds(
  contenders: readonly Contender[],
  settings: WrkSettings,
  progress: Progress,
  signal: AbortSignal,
): Promise<RoundResults> {
  const { rounds, durationS } = settings
  const measured: RoundResults = { results: new Map(), windows: new Map() }
  for (let round = 0; round < rounds && !signal.aborted; round++) {
    for (let k = 0; k < contenders.length && !signal.aborted; k++) {
      const contender = contenders[(round + k) % contenders.length] as Contender
      progress.update(`round ${round + 1}/${rounds}: ${contender.name} (${durationS} s)`)
      const result = await measureOnce(contender, settings, measured.windows)
      const list = measured.results.get(contender.name) ?? []
      list.push(result)
      measured.results.set(contender.name, list)
      progress.log(
        `round ${round + 1}/${rounds}  ${contender.name.padEnd(26)} ${Math.round(result.rps).toLocaleString('en-US').padStart(7)} req/s  p50 ${result.p50_ms.toFixed(2)} ms  p99 ${result.p99_ms.toFixed(2)} ms  CPU/req app ${result.app_cpu_us.toFixed(1)} µs, nginx ${result.nginx_cpu_us.toFixed(1)} µs${result.errors ? `  ${result.errors} errors` : ''}${result.l1_share !== undefined ? `  L1 ${result.l1_share}%` : ''}`,
      )
    }
  }
  return measured
}

/** One wrk run against a contender, with its CPU time and (for a stack) its L1 share. */
async function measureOnce(
  contender: Contender,
  settings: WrkSettings,
  windows: RoundResults['windows'],
): Promise<RoundResult> {
  const before = contender.replicaUrls ? await replicaCounters(contender.replicaUrls) : undefined
  const from = monotonicMicros()
  const appCpu = cpuMillis(contender.appPids)
  const nginxCpu = cpuMillis(contender.nginxPids)
  const measured = await runWrk(settings.wrk, contender.url, settings)
  const perRequest = (ms: number) =>
    measured.requests === 0 ? 0 : Math.round((ms * 10_000) / measured.requests) / 10
  const result: RoundResult = {
    ...measured,
    app_cpu_us: perRequest(cpuMillis(contender.appPids) - appCpu),
    nginx_cpu_us: perRequest(cpuMillis(contender.nginxPids) - nginxCpu),
  }
  windows.set(contender.name, [...(windows.get(contender.name) ?? []), [from, monotonicMicros()]])
  if (before && contender.replicaUrls) {
    const delta = counterDelta(before, await replicaCounters(contender.replicaUrls))
    result.l1_share =
      delta.reads === 0 ? 0 : Math.round((delta.l1_hits / delta.reads) * 10_000) / 100
  }
  return result
}

/** A contender's figures over the rounds: medians, and its throughput against the bare side's. */
export interface LimitRow {
  contender: string
  median_rps: number
  rounds_rps: number[]
  p50_ms: number
  p99_ms: number
  app_cpu_us: number
  nginx_cpu_us: number
  errors: number
  ratio_to_bare: number
  /** The lowest share of reads served from L1 in any round (stacks only). */
  l1_share?: number
}

/** One row per contender, in the contenders' order. */
export function limitRows(
  contenders: readonly Contender[],
  results: RoundResults['results'],
): LimitRow[] {
  const bare = median((results.get('bare Hono') ?? []).map((r) => r.rps))
  return contenders.map((c) => {
    const list = results.get(c.name) ?? []
    const rps = median(list.map((r) => r.rps))
    return {
      contender: c.name,
      median_rps: Math.round(rps),
      rounds_rps: list.map((r) => Math.round(r.rps)),
      p50_ms: median(list.map((r) => r.p50_ms)),
      p99_ms: median(list.map((r) => r.p99_ms)),
      app_cpu_us: median(list.map((r) => r.app_cpu_us)),
      nginx_cpu_us: median(list.map((r) => r.nginx_cpu_us)),
      errors: list.reduce((sum, r) => sum + r.errors, 0),
      ratio_to_bare: Math.round((rps / bare) * 1000) / 1000,
      ...(list.some((r) => r.l1_share !== undefined)
        ? { l1_share: Math.min(...list.map((r) => r.l1_share ?? 0)) }
        : {}),
    }
  })
}
