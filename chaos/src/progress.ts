/**
 * Progress on stderr. On a terminal, a status line redrawn in place; elsewhere (CI, a pipe,
 * a test), a plain status line at most every `plainEveryMs`, so logs stay short.
 */
export class Progress {
  readonly #interactive: boolean
  readonly #plainEveryMs: number
  readonly #quiet: boolean
  #lastPlain = 0
  #drawn = false

  constructor(options: { interactive?: boolean; plainEveryMs?: number; quiet?: boolean } = {}) {
    this.#interactive = options.interactive ?? Boolean(process.stderr.isTTY)
    this.#plainEveryMs = options.plainEveryMs ?? 5_000
    this.#quiet = options.quiet ?? false
  }

  /** A transient status: which fault, which phase, elapsed time, counts. */
  status(text: string): void {
    if (this.#quiet) return
    if (this.#interactive) {
      process.stderr.write(`\r\x1b[2K${text}`)
      this.#drawn = true
      return
    }
    if (Date.now() - this.#lastPlain < this.#plainEveryMs) return
    this.#lastPlain = Date.now()
    process.stderr.write(`${text}\n`)
  }

  /** A line that stays: a step done, a note from a fault. */
  log(text: string): void {
    if (this.#quiet) return
    if (this.#drawn) process.stderr.write('\r\x1b[2K')
    this.#drawn = false
    process.stderr.write(`${text}\n`)
  }
}

/** `12.3 s`. */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
