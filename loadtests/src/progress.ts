import type { Tick } from './load-options.js'

/**
 * Progress on stderr: on a terminal one line redrawn in place; elsewhere (CI, a pipe) a plain
 * line every `plainEveryMs`, so logs stay readable.
 */
export class Progress {
  readonly #out: NodeJS.WriteStream
  readonly #interactive: boolean
  readonly #plainEveryMs: number
  #lastPlain = 0
  #drawn = false

  constructor(options: { interactive?: boolean; plainEveryMs?: number } = {}) {
    this.#out = process.stderr
    this.#interactive = options.interactive ?? Boolean(process.stderr.isTTY)
    this.#plainEveryMs = options.plainEveryMs ?? 5_000
  }

  /** Shows a transient status line. */
  update(text: string): void {
    if (this.#interactive) {
      this.#out.write(`\r\x1b[2K${text}`)
      this.#drawn = true
      return
    }
    const now = Date.now()
    if (now - this.#lastPlain < this.#plainEveryMs) return
    this.#lastPlain = now
    this.#out.write(`${text}\n`)
  }

  /** Prints a lasting line (after clearing the status line). */
  log(text: string): void {
    this.clear()
    this.#out.write(`${text}\n`)
  }

  /** Removes the status line. */
  clear(): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K')
    this.#drawn = false
    this.#lastPlain = 0
  }
}

/** `[12.0/35.0 s] measure   4,812 req/s   83,114 requests   0 errors   hit 95.4%`. */
export function formatTick(tick: Tick, prefix = ''): string {
  const bar = progressBar(tick.elapsedMs / tick.totalMs, 20)
  return (
    `${prefix}${bar} ${seconds(tick.elapsedMs)} / ${seconds(tick.totalMs)}  ` +
    `${tick.phase.padEnd(7)}  ${tick.rps.toLocaleString('en-US').padStart(6)} req/s  ` +
    `${tick.errors} errors  hit ${tick.combinedHitRate.toFixed(1)}%`
  )
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** `[######......]`. */
export function progressBar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
}
