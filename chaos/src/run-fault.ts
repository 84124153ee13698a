import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisTopology } from '@strata/stack/config'
import {
  type CheckReport,
  checkHistory,
  History,
  readVersions,
  StrataClient,
  type WriteOp,
} from '@strata/testkit'
import { Redis } from 'ioredis'
import { type Fault, type FaultName, type FaultWindow, UNKNOWN_GRACE_MS } from './fault.js'
import { type PhaseStats, phaseStats, recoveryTime } from './measure.js'
import { type Progress, seconds } from './progress.js'
import { settledConsistencyFigures } from './sli.js'
import { crashRecorder, REPLICAS, startChaosStack } from './stack.js'
import {
  hotKeyRequests,
  KeySpace,
  Load,
  mixedRequests,
  seedKeys,
  type WorkloadOptions,
} from './workload.js'

/** How each fault is run. */
export interface FaultRunOptions {
  /** The Redis the stack runs: one server, or a Redis Cluster (3 masters, 3 replicas). @default 'single' */
  redis?: RedisTopology
  /** Length of the phases before and after the fault, ms. */
  phaseMs: number
  /** Length of the phase after the fault, when it differs: the time it has to recover, ms. */
  afterMs?: number
  /** How long a fault that is undone is held, ms. */
  holdMs: number
  /** Delay of `redis-latency`, each way, ms. */
  latencyMs: number
  /** Guarantee 3's bound for the checker, ms. */
  stalenessBoundMs: number
  workload: WorkloadOptions
  progress: Progress
  signal: AbortSignal
  /** Prefix of progress lines, e.g. `[2/7]`. */
  label?: string
  /**
   * A directory to keep the run's evidence in: the stack's logs (replicas, nginx's access log,
   * Redis, PostgreSQL) and the recorded history, under `<dir>/<fault>/`.
   */
  evidenceDir?: string
}

/** Everything measured about one fault. */
export interface FaultResult {
  fault: FaultName
  title: string
  passed: boolean
  /** Why it failed: each broken promise in a sentence. Empty when it passed. */
  failures: string[]
  /** How long the fault was on (injection to end), ms. */
  faultMs: number
  /** See `recoveryTime`; undefined when it did not recover before the run ended. */
  recoveryMs: number | undefined
  phases: [PhaseStats, PhaseStats, PhaseStats]
  check: CheckReport
  load: { sent: number; skipped: number; lagged: number; rate: number }
  notes: string[]
  /** The Redis the stack ran. */
  redis: RedisTopology
  /** See `FaultWindow.figures`. */
  figures: Record<string, number>
}

/**
 * Runs one fault on a fresh stack: seed, a phase of load, the fault, a phase after it; then
 * reads every key's version from PostgreSQL, checks the recorded history and judges the fault
 * against what the guarantees promise.
 */
export async function runFault(fault: Fault, options: FaultRunOptions): Promise<FaultResult> {
  const { progress, label = '' } = options
  const prefix = `${label} ${fault.name}`.trim()
  const via = fault.proxies.map((link) => (link === 'redis' ? 'Redis' : 'PostgreSQL'))
  const redis = options.redis ?? 'single'
  const on = redis === 'cluster' ? ' on a Redis Cluster' : ''
  progress.log(
    `${prefix}: starting a throw-away stack${on}${via.length > 0 ? ` (${via.join(' and ')} via proxies)` : ''}`,
  )
  // A component that exits on its own (a crashed replica) is reported here and fails the run.
  const { reporter, crashes } = crashRecorder((message) => progress.log(`${prefix}: ! ${message}`))
  const stack = await startChaosStack({
    redis,
    proxies: fault.proxies,
    ...(fault.postgresUrlParams ? { postgresUrlParams: fault.postgresUrlParams } : {}),
    ...(fault.env ? { env: fault.env } : {}),
    reporter,
  })
  const evidence = options.evidenceDir && join(options.evidenceDir, fault.name)
  const history = new History()
  const clientOf = (baseUrl: string) => new StrataClient({ baseUrl, history, timeoutMs: 15_000 })
  const client = clientOf(stack.url)
  // The hot key's clients talk to their replicas directly, so its reads land where the fault is.
  const replicaClients = fault.hotKey
    ? Array.from({ length: REPLICAS }, (_, i) => clientOf(stack.replicaUrl(i + 1)))
    : []
  const admin = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => 200 })
  admin.on('error', () => {})
  const notes: string[] = []
  let phase = 'seeding'
  let phaseStart = history.now()
  let phaseLength: number | undefined
  const ticker = setInterval(() => {
    const elapsed = history.now() - phaseStart
    const of = phaseLength === undefined ? '' : ` / ${seconds(phaseLength)}`
    const failed = history.reads.filter((read) => read.outcome === 'failed').length
    progress.status(
      `${prefix}: ${phase.padEnd(7)} ${seconds(elapsed)}${of}  ${history.reads.length + history.writes.length} requests  ` +
        `${failed} failed reads  ${history.inFlight} in flight`,
    )
  }, 250)
  const enter = (name: string, lengthMs?: number) => {
    phase = name
    phaseStart = history.now()
    phaseLength = lengthMs
  }
  let load: Load | undefined
  let hotLoad: Load | undefined
  try {
    const keys = new KeySpace(options.workload)
    await seedKeys(client, keys)
    load = new Load(history, options.workload, mixedRequests(client, keys, options.workload))
    if (fault.hotKey) {
      const { reader, writers, rate, writeShare } = fault.hotKey
      const on = (index: number) => replicaClients[index - 1] as StrataClient
      hotLoad = new Load(
        history,
        { rate, maxInFlight: options.workload.maxInFlight },
        hotKeyRequests({
          key: keys.written[0] as string,
          reader: on(reader),
          writers: writers.map(on),
          writeShare,
          seed: options.workload.seed,
        }),
      )
      hotLoad.start()
    }
    load.start()
    const loadStart = history.now()
    enter('before', options.phaseMs)
    await sleep(options.phaseMs, undefined, { signal: options.signal })
    enter('during')
    const window: FaultWindow = await fault.run({
      stack,
      redis: admin,
      holdMs: options.holdMs,
      latencyMs: options.latencyMs,
      now: () => history.now(),
      note: (message) => {
        notes.push(message)
        progress.log(`${prefix}: ${message}`)
      },
      signal: options.signal,
    })
    const afterMs = options.afterMs ?? options.phaseMs
    enter('after', afterMs)
    await sleep(afterMs, undefined, { signal: options.signal })
    enter('draining')
    await Promise.all([load.stop(), hotLoad?.stop()])
    const loadEnd = history.now()
    // Settles while the history is checked (it never rejects: an unanswered read reports nothing).
    const sli = settledConsistencyFigures(stack.replicaUrl(1))

    enter('checking')
    const finalVersions = await readVersions(stack.databaseUrl, keys.all)
    const check = checkHistory(history, {
      stalenessBoundMs: options.stalenessBoundMs,
      // A fresh stack: every key began at version 0 (absent) before the seed wrote it.
      initialVersions: new Map(),
      finalVersions,
    })
    const phases: FaultResult['phases'] = [
      phaseStats('before', history, load.samples, keys, loadStart, window.injectedAt),
      phaseStats('during', history, load.samples, keys, window.injectedAt, window.endedAt),
      phaseStats('after', history, load.samples, keys, window.endedAt, loadEnd),
    ]
    const replicas = Array.from({ length: REPLICAS }, (_, i) => `replica-${i + 1}`)
    const recoveryMs = recoveryTime(history, window.endedAt, replicas)
    const result: FaultResult = {
      fault: fault.name,
      title: fault.title,
      passed: false,
      failures: [],
      faultMs: Math.round(window.endedAt - window.injectedAt),
      recoveryMs,
      phases,
      check,
      load: {
        sent: load.sent + (hotLoad?.sent ?? 0),
        skipped: load.skipped + (hotLoad?.skipped ?? 0),
        lagged: load.lagged + (hotLoad?.lagged ?? 0),
        rate: options.workload.rate + (fault.hotKey?.rate ?? 0),
      },
      notes,
      redis,
      figures: { ...window.figures, ...(await sli) },
    }
    result.failures = [...crashes, ...judge(fault, result, history.writes, window)]
    result.passed = result.failures.length === 0
    return result
  } finally {
    clearInterval(ticker)
    // Interrupted mid-run: stop sending before the stack goes away.
    await Promise.all([load?.stop(), hotLoad?.stop()])
    for (const each of [client, ...replicaClients]) each.close()
    admin.disconnect()
    progress.log(`${prefix}: stopping the stack`)
    await stack.stop({ keepLogsIn: evidence })
    if (evidence) writeFileSync(join(evidence, 'history.json'), JSON.stringify(history))
  }
}

/** Each promise the fault's expectations make that the run broke, in a sentence. */
export function judge(
  fault: Fault,
  result: Omit<FaultResult, 'failures' | 'passed'>,
  writes: readonly WriteOp[],
  window: FaultWindow,
): string[] {
  const failures: string[] = []
  const { check, phases, load } = result
  if (check.totalViolations > 0) {
    const kinds = Object.entries(check.violations)
      .filter(([, count]) => count > 0)
      .map(([kind, count]) => `${count} ${kind}`)
    failures.push(`checker: ${kinds.join(', ')}`)
  }
  const failedReads = phases.reduce((sum, phase) => sum + phase.failedReads, 0)
  const failedCachedReads = phases.reduce((sum, phase) => sum + phase.failedCachedReads, 0)
  if (fault.expect.failedReads === 'none' && failedReads > 0)
    failures.push(`${failedReads} reads failed; none may`)
  if (fault.expect.failedReads === 'uncached' && failedCachedReads > 0)
    failures.push(`${failedCachedReads} reads of cached keys failed; none may`)
  for (const outcome of ['acked', 'refused', 'unknown'] as const) {
    const count = phases.reduce((sum, phase) => sum + phase.writes[outcome], 0)
    if (count > 0 && !fault.expect.writes.includes(outcome))
      failures.push(
        `${count} writes ended ${outcome}; expected only ${fault.expect.writes.join(' or ')}`,
      )
  }
  const inFlightUntil = {
    injection: { at: window.injectionDoneAt, what: 'the injection' },
    fault: { at: window.endedAt, what: 'the end of the fault' },
  }[fault.expect.unknownOnlyInFlight ?? 'injection']
  if (fault.expect.unknownOnlyInFlight) {
    const stray = writes.filter(
      (write) =>
        write.outcome === 'unknown' &&
        !(write.start <= inFlightUntil.at + UNKNOWN_GRACE_MS && write.end >= window.injectedAt),
    )
    if (stray.length > 0)
      failures.push(
        `${stray.length} writes of unknown outcome began more than ${UNKNOWN_GRACE_MS} ms after ${inFlightUntil.what}`,
      )
  }
  const during = phases[1]
  if (fault.expect.medianReadMs !== undefined && during.readLatency.p50 > fault.expect.medianReadMs)
    failures.push(
      `median read took ${during.readLatency.p50} ms during the fault; at most ${fault.expect.medianReadMs} ms allowed`,
    )
  if (result.recoveryMs === undefined)
    failures.push(
      'did not recover (L1 serving on every replica and a write acked) before the run ended',
    )
  if (load.skipped > 0)
    failures.push(`${load.skipped} requests were not sent: more than the in-flight limit piled up`)
  return failures
}
