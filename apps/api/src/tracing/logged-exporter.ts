import { type ExportResult, ExportResultCode } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-node'

/** The least time between two log lines about failed exports, in milliseconds. */
const LOG_EVERY_MS = 10_000

/**
 * An exporter that reports its failed exports (a collector down, refusing, too slow): the SDK
 * drops those spans silently, and an operator would otherwise see only a trace view gone quiet.
 * At most one report per 10 s, with how many batches failed since the last one.
 */
export class LoggedExporter implements SpanExporter {
  readonly #inner: SpanExporter
  readonly #report: (error: unknown, failedBatches: number) => void
  #reportedAt = Number.NEGATIVE_INFINITY
  #failed = 0

  constructor(inner: SpanExporter, report: (error: unknown, failedBatches: number) => void) {
    this.#inner = inner
    this.#report = report
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.#failedOnce(result.error)
      done(result)
    })
  }

  #failedOnce(error: unknown): void {
    this.#failed++
    const now = performance.now()
    if (now - this.#reportedAt < LOG_EVERY_MS) return
    this.#reportedAt = now
    this.#report(error, this.#failed)
    this.#failed = 0
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown()
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve()
  }
}
