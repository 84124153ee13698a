/**
 * Parses a duration such as `30s`, `1m30s`, `500ms` or `2m` into milliseconds.
 * A bare number means seconds, as on k6's and wrk's command lines.
 *
 * @example parseDuration('1m30s') // 90_000
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  let consumed = 0
  for (let match = part.exec(trimmed); match; match = part.exec(trimmed)) {
    total += Number(match[1]) * (unit[match[2] ?? ''] ?? Number.NaN)
    consumed = part.lastIndex
  }
  if (trimmed === '' || consumed !== trimmed.length || !Number.isFinite(total)) {
    throw new RangeError(`not a duration: ${JSON.stringify(text)} (use e.g. 30s, 1m30s, 500ms)`)
  }
  return Math.round(total)
}

/** Formats milliseconds for people: `850 ms`, `12.5 s`, `2 m 05 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
  const minutes = Math.floor(ms / 60_000)
  const seconds = Math.round((ms % 60_000) / 1000)
  return `${minutes} m ${String(seconds).padStart(2, '0')} s`
}
