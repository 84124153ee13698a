import { Histogram } from './histogram.js'
import type { HttpResult } from './http-connection.js'

/** The cache tiers `X-Cache-Level` names. */
export const LEVELS = ['L1', 'L2', 'DB'] as const
export type Level = (typeof LEVELS)[number]

/** Latency histograms (microseconds) kept for each kind of request. */
export const LATENCY_GROUPS = ['all', 'read', 'write', 'L1', 'L2', 'DB'] as const
export type LatencyGroup = (typeof LATENCY_GROUPS)[number]

const MAX_ERROR_SAMPLES = 10

/**
 * Everything recorded in one phase of a run (warm-up or measurement). Plain counters and
 * histograms: recording allocates nothing but a map entry for a new error kind or replica.
 */
export class PhaseStats {
  requests = 0
  reads = 0
  writes = 0
  errors = 0
  /** Open loop only: requests not sent because every connection was busy. */
  dropped = 0
  /** Reads answered 404 (errors too, unless the scenario expects them). */
  notFound = 0
  readonly levels: Record<Level, number> = { L1: 0, L2: 0, DB: 0 }
  /** Reads whose response had no (or an unknown) `X-Cache-Level`. */
  unknownLevel = 0
  readonly errorsByKind = new Map<string, number>()
  readonly errorSamples: string[] = []
  readonly replicas = new Map<string, number>()
  /** Reads per tier for each `group` label the scenario gave. */
  readonly groups = new Map<string, Record<Level, number>>()
  readonly latency: Record<LatencyGroup, Histogram> = {
    all: new Histogram(),
    read: new Histogram(),
    write: new Histogram(),
    L1: new Histogram(),
    L2: new Histogram(),
    DB: new Histogram(),
  }
  /** performance.now() of the first request's start and the last one's end. */
  firstStart = Number.POSITIVE_INFINITY
  lastEnd = 0

  /** Records a response; returns true when it counts as an error. */
  recordResponse(
    kind: 'read' | 'write',
    result: HttpResult,
    started: number,
    ended: number,
    expectNotFound: boolean,
    group?: string,
  ): boolean {
    this.#span(started, ended)
    const micros = (ended - started) * 1000
    this.latency.all.record(micros)
    this.latency[kind].record(micros)
    if (kind === 'read') {
      this.reads++
      const level = result.cacheLevel
      if (level === 'L1' || level === 'L2' || level === 'DB') {
        this.levels[level]++
        this.latency[level].record(micros)
        if (group !== undefined) {
          let counts = this.groups.get(group)
          if (!counts) {
            counts = { L1: 0, L2: 0, DB: 0 }
            this.groups.set(group, counts)
          }
          counts[level]++
        }
      } else if (result.status < 500) this.unknownLevel++
    } else this.writes++
    if (result.replicaId !== undefined)
      this.replicas.set(result.replicaId, (this.replicas.get(result.replicaId) ?? 0) + 1)
    const { status } = result
    if (status >= 200 && status < 300) return false
    if (status === 404 && kind === 'read') {
      this.notFound++
      if (expectNotFound) return false
    }
    this.#error(`http_${status}`, `${kind} answered ${status}`)
    return true
  }

  /** Records a request that got no HTTP response (refused, reset, timed out). */
  recordFailure(
    kind: 'read' | 'write',
    reason: string,
    message: string,
    started: number,
    ended: number,
  ): void {
    this.#span(started, ended)
    if (kind === 'read') this.reads++
    else this.writes++
    this.#error(`network_${reason}`, `${kind}: ${message}`)
  }

  #span(started: number, ended: number): void {
    this.requests++
    if (started < this.firstStart) this.firstStart = started
    if (ended > this.lastEnd) this.lastEnd = ended
  }

  #error(kind: string, sample: string): void {
    this.errors++
    this.errorsByKind.set(kind, (this.errorsByKind.get(kind) ?? 0) + 1)
    if (this.errorSamples.length < MAX_ERROR_SAMPLES && !this.errorSamples.includes(sample))
      this.errorSamples.push(sample)
  }
}
