import type { History, StrataClient } from '@strata/testkit'

/** A source of uniform numbers in [0, 1). */
export type Random = () => number

/** A seeded PRNG (mulberry32), so a run's sequence of keys and operations can be replayed. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The shape of the load: which keys exist and how requests are drawn. */
export interface WorkloadOptions {
  /** Requests per second, reads and writes together, sent at a steady pace (open loop). */
  rate: number
  /** Share of requests that are writes, 0–1. */
  writeShare: number
  /** Keys that are written during the run; the checker's staleness figures come from these. */
  writtenKeys: number
  /**
   * Keys written once when seeding and only read afterwards: they stay cached, which is how a
   * PostgreSQL outage can be told apart for cached and uncached reads.
   */
  readOnlyKeys: number
  /** Share of reads that go to written keys; the rest go to read-only ones. */
  writtenKeyReadShare: number
  /** Most requests in flight; the generator skips (and counts) requests beyond it. */
  maxInFlight: number
  seed: number
}

/** The defaults: a modest, steady rate, since the faults and not the throughput are the point. */
export const DEFAULT_WORKLOAD: WorkloadOptions = {
  rate: 200,
  writeShare: 0.2,
  writtenKeys: 40,
  readOnlyKeys: 160,
  writtenKeyReadShare: 0.5,
  maxInFlight: 2_000,
  seed: 1,
}

/** The key space of a workload. */
export class KeySpace {
  readonly written: readonly string[]
  readonly readOnly: readonly string[]

  constructor(options: Pick<WorkloadOptions, 'writtenKeys' | 'readOnlyKeys'>) {
    this.written = Array.from({ length: options.writtenKeys }, (_, i) => `chaos:w:${i}`)
    this.readOnly = Array.from({ length: options.readOnlyKeys }, (_, i) => `chaos:r:${i}`)
  }

  get all(): string[] {
    return [...this.written, ...this.readOnly]
  }

  isReadOnly(key: string): boolean {
    return key.startsWith('chaos:r:')
  }
}

/** Runs `work` over `items` with at most `concurrency` at a time. */
export async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

/**
 * Writes every key once (so each exists, at version 1), then reads each once, which loads it
 * into L2 and the answering replica's L1. Both go through the recording client, so the seed is
 * part of the checked history.
 */
export async function seedKeys(client: StrataClient, keys: KeySpace): Promise<void> {
  const all = keys.all
  await forEachLimited(all, 16, (key) => client.write(key, `seed:${key}`))
  await forEachLimited(all, 16, (key) => client.read(key))
}

/** What a load sends: each call sends the next request and resolves once it is recorded. */
export type RequestSource = () => Promise<unknown>

/**
 * The mixed traffic of a workload, through one client (nginx): writes of the written keys, reads
 * of both kinds of key, drawn from the workload's seeded sequence.
 */
export function mixedRequests(
  client: StrataClient,
  keys: KeySpace,
  options: WorkloadOptions,
): RequestSource {
  const random = seededRandom(options.seed)
  const pick = (list: readonly string[]) => list[Math.floor(random() * list.length)] as string
  let writes = 0
  return () => {
    if (random() < options.writeShare) return client.write(pick(keys.written), `value-${++writes}`)
    if (random() < options.writtenKeyReadShare || keys.readOnly.length === 0)
      return client.read(pick(keys.written))
    // Read-only keys are read with a skew (a few are hot), as real traffic is, so every replica
    // soon reads a key it has read before and an L1 hit shows that L1 serves again.
    const index = Math.floor(random() ** 2 * keys.readOnly.length)
    return client.read(keys.readOnly[index] as string)
  }
}

/** Options of {@link hotKeyRequests}. */
export interface HotKeyTraffic {
  key: string
  /** Client on the replica that reads the key. */
  reader: StrataClient
  /** Clients on the replicas that write it, used in turn. */
  writers: readonly StrataClient[]
  /** Share of requests that are writes, 0–1. */
  writeShare: number
  seed: number
}

/** One key read on one replica and written on others: the traffic that races a read with a write. */
export function hotKeyRequests(traffic: HotKeyTraffic): RequestSource {
  const random = seededRandom(traffic.seed)
  let writes = 0
  return () => {
    if (random() >= traffic.writeShare) return traffic.reader.read(traffic.key)
    const writer = traffic.writers[writes % traffic.writers.length] as StrataClient
    return writer.write(traffic.key, `hot-${++writes}`)
  }
}

/** How fast a {@link Load} sends. */
export type Pace = Pick<WorkloadOptions, 'rate' | 'maxInFlight'>

/** A sample of the requests in flight, on the history's clock. */
export interface InFlightSample {
  at: number
  inFlight: number
}

/**
 * An open-loop load: requests leave at a steady rate whatever the answers' latency, as clients
 * of a real service do, so a slow cluster shows up as growing in-flight counts rather than as a
 * politely reduced rate.
 */
export class Load {
  readonly #history: History
  readonly #pace: Pace
  readonly #source: RequestSource
  readonly #pending = new Set<Promise<unknown>>()
  readonly samples: InFlightSample[] = []
  /** Requests not sent because `maxInFlight` were already outstanding. */
  skipped = 0
  /** Requests not sent because this process fell more than 50 ms behind the pace (it was busy). */
  lagged = 0
  #timer: NodeJS.Timeout | undefined
  #sampler: NodeJS.Timeout | undefined
  #startedAt = 0
  #sent = 0

  /** `history` is the one `source`'s clients record into: its in-flight count is the limit's. */
  constructor(history: History, pace: Pace, source: RequestSource) {
    this.#history = history
    this.#pace = pace
    this.#source = source
  }

  /** Requests sent so far. */
  get sent(): number {
    return this.#sent
  }

  /** Starts sending; requests go out in small batches every 5 ms to keep the pace even. */
  start(): void {
    this.#startedAt = performance.now()
    this.#timer = setInterval(() => this.#tick(), 5)
    this.#sampler = setInterval(() => this.#sample(), 50)
    this.#sample()
  }

  /** Stops sending and resolves once every request in flight has ended (each has a timeout). */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    clearInterval(this.#sampler)
    await Promise.allSettled([...this.#pending])
    this.#sample()
  }

  #sample(): void {
    this.samples.push({ at: this.#history.now(), inFlight: this.#history.inFlight })
  }

  #tick(): void {
    const due = Math.floor(((performance.now() - this.#startedAt) / 1000) * this.#pace.rate)
    // After a stall of this process, catch up by at most 50 ms worth instead of a burst.
    const burst = Math.max(1, Math.ceil(this.#pace.rate / 20))
    let count = due - this.#sent
    if (count > burst) {
      this.lagged += count - burst
      this.#sent += count - burst
      count = burst
    }
    for (; count > 0; count--) {
      this.#sent++
      if (this.#history.inFlight >= this.#pace.maxInFlight) {
        this.skipped++
        continue
      }
      const request = this.#source()
      this.#pending.add(request)
      void request.finally(() => this.#pending.delete(request))
    }
  }
}
