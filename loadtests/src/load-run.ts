import { HttpConnection, NetworkError } from './http-connection.js'
import type { LoadOptions } from './load-options.js'
import { seededRandom } from './random.js'
import type { Operation } from './scenario.js'
import { PhaseStats } from './stats.js'

/** The request line and body of an operation. */
function requestOf(op: Operation): [method: string, path: string, body: string | undefined] {
  if (op.kind === 'read') return ['GET', `/read/${encodeURIComponent(op.key)}`, undefined]
  return ['POST', '/write', JSON.stringify({ key: op.key, value: op.value })]
}

/**
 * A run under way: its clock, what each phase recorded, its connections. The closed and the
 * open loop drive it; `runLoad` owns its timers.
 */
export class LoadRun {
  readonly warmup = new PhaseStats()
  readonly measure = new PhaseStats()
  /** Requests completed in each second of the measured window. */
  readonly series: number[] = []
  readonly startedAt = new Date()
  readonly start = performance.now()
  readonly measureAt: number
  readonly endAt: number
  readonly connections: HttpConnection[] = []
  /** Requests started, warm-up included. */
  issued = 0
  stopped = false
  aborted = false
  measuring: boolean
  readonly #options: LoadOptions
  readonly #expectNotFound: boolean
  readonly #timeout: { timeoutMs: number }

  constructor(options: LoadOptions) {
    this.#options = options
    this.measureAt = this.start + options.warmupMs
    this.endAt = this.measureAt + options.durationMs
    this.measuring = options.warmupMs === 0
    this.#expectNotFound = options.scenario.expectNotFound ?? false
    this.#timeout = { timeoutMs: options.requestTimeoutMs }
  }

  /** Whether a new request may still start. */
  get open(): boolean {
    return (
      !this.stopped && performance.now() < this.endAt && this.issued < this.#options.maxRequests
    )
  }

  /** Stops every user at once: in-flight requests fail and are not recorded. */
  stopAll(): void {
    this.stopped = true
    for (const connection of this.connections) connection.close()
  }

  /** Sends one operation on a connection and records it in the phase it started in. */
  async execute(connection: HttpConnection, op: Operation): Promise<boolean> {
    const started = performance.now()
    const [method, path, body] = requestOf(op)
    const phase = started < this.measureAt ? this.warmup : this.measure
    if (op.kind === 'write') this.#options.written?.add(op.key)
    try {
      const result = await connection.request(method, path, body, this.#timeout)
      const ended = performance.now()
      phase.recordResponse(
        op.kind,
        result,
        started,
        ended,
        this.#expectNotFound,
        op.kind === 'read' ? op.group : undefined,
      )
      if (phase === this.measure) {
        const second = Math.floor((ended - this.measureAt) / 1000)
        this.series[second] = (this.series[second] ?? 0) + 1
      }
      return true
    } catch (error) {
      if (this.stopped) return false
      const ended = performance.now()
      const reason = error instanceof NetworkError ? error.reason : 'error'
      phase.recordFailure(op.kind, reason, (error as Error).message, started, ended)
      // Don't spin on a refused connection: a failing target gets at most ~100 tries/s per user.
      await new Promise((resolve) => setTimeout(resolve, 10))
      return false
    }
  }

  /** Closed loop: each user sends its next request as soon as the previous one is answered. */
  async closedLoop(): Promise<void> {
    const { vus, scenario, seed, target } = this.#options
    const user = async (vu: number) => {
      const connection = new HttpConnection(target)
      this.connections.push(connection)
      const next = scenario.createUser({ vu, random: seededRandom(seed, vu) })
      while (this.open) {
        this.issued++
        await this.execute(connection, next())
      }
      connection.close()
    }
    await Promise.all(Array.from({ length: vus }, (_, vu) => user(vu)))
  }

  /**
   * Open loop: requests start at `rate` per second whatever the answers' pace, on the first idle
   * connection. When every connection is busy the request is dropped and counted (k6's
   * dropped_iterations): the target is slower than the offered load.
   */
  async openLoop(rate: number): Promise<void> {
    const { vus, scenario, seed, target } = this.#options
    const idle = Array.from({ length: vus }, () => new HttpConnection(target))
    this.connections.push(...idle)
    const next = scenario.createUser({ vu: 0, random: seededRandom(seed, 0) })
    let scheduled = 0
    let inFlight = 0
    await new Promise<void>((resolve) => {
      const finish = () => {
        if (inFlight === 0) {
          clearInterval(scheduler)
          resolve()
        }
      }
      const scheduler = setInterval(() => {
        const now = performance.now()
        if (this.stopped || now >= this.endAt || this.issued >= this.#options.maxRequests) {
          finish()
          return
        }
        const due = Math.floor(((now - this.start) * rate) / 1000) - scheduled
        for (let i = 0; i < due; i++) {
          scheduled++
          const connection = idle.pop()
          if (!connection) {
            ;(now < this.measureAt ? this.warmup : this.measure).dropped++
            continue
          }
          this.issued++
          inFlight++
          void this.execute(connection, next()).finally(() => {
            inFlight--
            idle.push(connection)
            if (this.stopped || performance.now() >= this.endAt) finish()
          })
        }
      }, 1)
    })
    for (const connection of this.connections) connection.close()
  }
}
