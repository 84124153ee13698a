import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisTopology } from '@strata/stack/config'
import { httpRequest } from '@strata/stack/http'
import { residentBytes } from '@strata/stack/processes'
import {
  type CheckReport,
  checkHistory,
  History,
  percentile,
  readVersions,
  StrataClient,
} from '@strata/testkit'
import { type Progress, seconds } from './progress.js'
import { type ChaosStack, crashRecorder, REPLICAS, startChaosStack } from './stack.js'
import { KeySpace, Load, mixedRequests, seedKeys, type WorkloadOptions } from './workload.js'

/** The soak's load: steady and mixed, over more keys than an L1 holds, so eviction runs too. */
export const SOAK_WORKLOAD: Omit<WorkloadOptions, 'rate' | 'seed'> = {
  writeShare: 0.1,
  writtenKeys: 500,
  readOnlyKeys: 3_000,
  writtenKeyReadShare: 0.3,
  maxInFlight: 2_000,
}

/** What the soak holds each replica to. */
export const SOAK_LIMITS = {
  /** RSS after the run may exceed RSS after warm-up by less than this, percent. */
  rssGrowthPercent: 10,
  /** No event-loop delay above this, ms. */
  loopDelayMs: 100,
} as const

/** Options of {@link runSoak}. */
export interface SoakOptions {
  durationMs: number
  /** Excluded from the RSS baseline: caches fill, code is optimised. @default 20% of the duration */
  warmupMs?: number
  /** How often RSS and event-loop delay are sampled, ms. @default 5_000 */
  sampleEveryMs?: number
  rate: number
  seed: number
  stalenessBoundMs: number
  /** One Redis server, or a Redis Cluster. @default 'single' */
  redis?: RedisTopology
  progress: Progress
  signal: AbortSignal
}

/** One replica over the soak. */
export interface SoakReplica {
  name: string
  /** Mean RSS over the window right after warm-up, MiB. */
  rssWarmMiB: number
  /** Mean RSS over the last window of the run, MiB. */
  rssEndMiB: number
  rssGrowthPercent: number
  /** Largest event-loop delay seen (prom-client's `nodejs_eventloop_lag_max_seconds`), ms. */
  maxLoopDelayMs: number
  /** Samples whose maximum event-loop delay exceeded the limit. */
  loopStalls: number
  /** [seconds since the load began, RSS MiB, max loop delay ms] every sample. */
  samples: Array<[number, number, number]>
}

/** The soak's figures and verdict. */
export interface SoakResult {
  durationMs: number
  warmupMs: number
  rate: number
  requests: number
  failedReads: number
  unackedWrites: number
  readLatency: { p50: number; p99: number; max: number }
  check: CheckReport
  replicas: SoakReplica[]
  passed: boolean
  failures: string[]
}

/** A process's resident set size from /proc, MiB. */
export const rssMiB = (pid: number): number => residentBytes([pid]) / 2 ** 20

/**
 * The largest event-loop delay since the previous scrape, ms, from a replica's `/metrics`
 * (prom-client measures it with `monitorEventLoopDelay` and resets it at every scrape).
 */
export async function loopDelayMs(replicaUrl: string): Promise<number> {
  const { body: text } = await httpRequest(`${replicaUrl}/metrics`, { timeoutMs: 5_000 })
  const match = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([\d.e+-]+)$/m.exec(text)
  if (!match?.[1]) throw new Error(`${replicaUrl}/metrics has no nodejs_eventloop_lag_max_seconds`)
  return Number(match[1]) * 1000
}

const mean = (values: number[]) =>
  values.length === 0 ? Number.NaN : values.reduce((sum, v) => sum + v, 0) / values.length

/** Runs the steady load on a fresh stack for `durationMs`, sampling every replica. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { progress } = options
  const warmupMs = options.warmupMs ?? Math.round(options.durationMs * 0.2)
  const sampleEveryMs = options.sampleEveryMs ?? 5_000
  progress.log('soak: starting a throw-away stack')
  const { reporter, crashes } = crashRecorder((message) => progress.log(`soak: ! ${message}`))
  const stack = await startChaosStack({ proxies: [], redis: options.redis ?? 'single', reporter })
  const history = new History()
  const client = new StrataClient({ baseUrl: stack.url, history, timeoutMs: 15_000 })
  const names = Array.from({ length: REPLICAS }, (_, i) => `replica-${i + 1}`)
  const samples = new Map<string, Array<[number, number, number]>>(names.map((n) => [n, []]))
  try {
    const keys = new KeySpace(SOAK_WORKLOAD)
    progress.log(`soak: seeding ${keys.all.length} keys`)
    await seedKeys(client, keys)
    const workload = { ...SOAK_WORKLOAD, rate: options.rate, seed: options.seed }
    const load = new Load(history, workload, mixedRequests(client, keys, workload))
    // Resets every replica's loop-delay maximum, so the first sample covers the load only.
    await sampleAll(stack, samples, 0)
    for (const list of samples.values()) list.length = 0
    load.start()
    const started = performance.now()
    for (;;) {
      const elapsed = performance.now() - started
      if (elapsed >= options.durationMs || options.signal.aborted) break
      await sleep(Math.min(sampleEveryMs, options.durationMs - elapsed), undefined, {
        signal: options.signal,
      }).catch(() => {})
      const at = (performance.now() - started) / 1000
      await sampleAll(stack, samples, at)
      const failed = history.reads.filter((read) => read.outcome === 'failed').length
      const rss = names.map((name) => samples.get(name)?.at(-1)?.[1].toFixed(0) ?? '?')
      progress.status(
        `soak: ${at < warmupMs / 1000 ? 'warm-up' : 'steady '} ${seconds(at * 1000)} / ${seconds(options.durationMs)}  ` +
          `${load.sent} requests  ${failed} failed reads  RSS ${rss.join('/')} MiB`,
      )
    }
    await load.stop()
    const finalVersions = await readVersions(stack.databaseUrl, keys.all)
    const check = checkHistory(history, {
      stalenessBoundMs: options.stalenessBoundMs,
      initialVersions: new Map(),
      finalVersions,
    })
    const result = judgeSoak(options, warmupMs, history, check, samples, load.skipped)
    result.failures.unshift(...crashes)
    result.passed = result.failures.length === 0
    return result
  } finally {
    client.close()
    progress.log('soak: stopping the stack')
    await stack.stop()
  }
}

async function sampleAll(
  stack: ChaosStack,
  samples: Map<string, Array<[number, number, number]>>,
  at: number,
): Promise<void> {
  await Promise.all(
    [...samples.keys()].map(async (name, i) => {
      const delay = await loopDelayMs(stack.replicaUrl(i + 1))
      samples.get(name)?.push([at, rssMiB(stack.replicaPid(i + 1)), delay])
    }),
  )
}

function judgeSoak(
  options: SoakOptions,
  warmupMs: number,
  history: History,
  check: CheckReport,
  samples: Map<string, Array<[number, number, number]>>,
  skipped: number,
): SoakResult {
  // RSS is compared as means over a window, since it breathes with every garbage collection.
  const windowS = Math.max(15, (options.durationMs / 1000) * 0.1)
  const warmS = warmupMs / 1000
  const endS = options.durationMs / 1000
  const replicas = [...samples].map(([name, list]): SoakReplica => {
    const rssWarmMiB = mean(
      list.filter(([at]) => at >= warmS && at < warmS + windowS).map((s) => s[1]),
    )
    const rssEndMiB = mean(list.filter(([at]) => at > endS - windowS).map((s) => s[1]))
    const delays = list.map((s) => s[2])
    return {
      name,
      rssWarmMiB,
      rssEndMiB,
      rssGrowthPercent: ((rssEndMiB - rssWarmMiB) / rssWarmMiB) * 100,
      maxLoopDelayMs: Math.max(0, ...delays),
      loopStalls: delays.filter((delay) => delay > SOAK_LIMITS.loopDelayMs).length,
      samples: list.map(([at, rss, delay]) => [
        Math.round(at),
        Math.round(rss * 10) / 10,
        Math.round(delay * 10) / 10,
      ]),
    }
  })
  const failedReads = history.reads.filter((read) => read.outcome === 'failed').length
  const unackedWrites = history.writes.filter((write) => write.outcome !== 'acked').length
  const latencies = history.reads.map((read) => read.end - read.start).sort((a, b) => a - b)
  const failures: string[] = []
  if (failedReads > 0) failures.push(`${failedReads} reads failed`)
  if (unackedWrites > 0) failures.push(`${unackedWrites} writes were not acknowledged`)
  if (check.totalViolations > 0) failures.push(`${check.totalViolations} checker violations`)
  if (skipped > 0) failures.push(`${skipped} requests piled up past the in-flight limit`)
  for (const replica of replicas) {
    if (!(replica.rssGrowthPercent < SOAK_LIMITS.rssGrowthPercent))
      failures.push(
        `${replica.name}: RSS grew ${replica.rssGrowthPercent.toFixed(1)} % after warm-up (limit ${SOAK_LIMITS.rssGrowthPercent} %)`,
      )
    if (replica.loopStalls > 0)
      failures.push(
        `${replica.name}: event loop stalled over ${SOAK_LIMITS.loopDelayMs} ms in ${replica.loopStalls} samples (max ${replica.maxLoopDelayMs.toFixed(0)} ms)`,
      )
  }
  return {
    durationMs: options.durationMs,
    warmupMs,
    rate: options.rate,
    requests: history.reads.length + history.writes.length,
    failedReads,
    unackedWrites,
    readLatency: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? 0,
    },
    check,
    replicas,
    passed: failures.length === 0,
    failures,
  }
}
