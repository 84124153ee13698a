/** One coloured series of a bar chart. */
export interface BarSeries {
  name: string
  color: string
  values: readonly number[]
}

/** A horizontal bar chart: one row per category; series side by side, or stacked. */
export interface BarChart {
  title: string
  /** Shown after each value (`%`, ` ms`, ` req/s`). */
  unit: string
  categories: readonly string[]
  series: readonly BarSeries[]
  stacked?: boolean
  /** Axis maximum. @default the largest bar, rounded up */
  max?: number
  /** Digits after the point in value labels. @default 1 */
  digits?: number
  /** @default 560 */
  width?: number
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** An axis end at or above `value` whose quarters are round numbers (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 or 8 × 10^n). */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1
  const quarter = value / 4
  const power = 10 ** Math.floor(Math.log10(quarter))
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8, 10])
    if (step * power >= quarter) return 4 * step * power
  return 40 * power
}

/** Renders the chart as a standalone `<svg>` element (no scripts, no external resources). */
export function barChart(chart: BarChart): string {
  const width = chart.width ?? 560
  const digits = chart.digits ?? 1
  const labelWidth = 120
  const valueRoom = 78
  const plotWidth = width - labelWidth - valueRoom
  const groupCount = chart.stacked ? 1 : chart.series.length
  const barHeight = chart.stacked ? 22 : groupCount > 1 ? 11 : 20
  const rowHeight = barHeight * groupCount + 14
  const top = 54
  const height = top + rowHeight * chart.categories.length + 26
  const totals = chart.categories.map((_, row) =>
    chart.stacked
      ? chart.series.reduce((sum, s) => sum + (s.values[row] ?? 0), 0)
      : Math.max(...chart.series.map((s) => s.values[row] ?? 0)),
  )
  const max = chart.max ?? niceMax(Math.max(...totals, 0))
  const x = (value: number) => labelWidth + (Math.max(0, value) / max) * plotWidth
  const fmt = (value: number) =>
    `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: value >= 100 ? 0 : Math.min(digits, 1) })}${chart.unit}`

  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(chart.title)}" ${FONT}>`,
  )
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`)
  parts.push(
    `<text x="0" y="18" font-size="15" font-weight="600" fill="#111">${escapeXml(chart.title)}</text>`,
  )
  // Legend
  let legendX = 0
  for (const s of chart.series) {
    parts.push(`<rect x="${legendX}" y="30" width="11" height="11" rx="2" fill="${s.color}"/>`)
    parts.push(
      `<text x="${legendX + 15}" y="40" font-size="12" fill="#333">${escapeXml(s.name)}</text>`,
    )
    legendX += 26 + s.name.length * 7
  }
  // Grid: five lines with their values
  for (let i = 0; i <= 4; i++) {
    const value = (max / 4) * i
    const gx = x(value)
    parts.push(
      `<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${height - 22}" stroke="#e5e7eb" stroke-width="1"/>`,
    )
    parts.push(
      `<text x="${gx}" y="${height - 8}" font-size="10" fill="#6b7280" text-anchor="middle">${escapeXml(
        value.toLocaleString('en-US', { maximumFractionDigits: max < 10 ? 1 : 0 }),
      )}</text>`,
    )
  }
  chart.categories.forEach((category, row) => {
    const rowTop = top + row * rowHeight
    parts.push(
      `<text x="${labelWidth - 8}" y="${rowTop + (rowHeight - 14) / 2 + 4}" font-size="12" fill="#111" text-anchor="end">${escapeXml(category)}</text>`,
    )
    if (chart.stacked) {
      let offset = 0
      for (const s of chart.series) {
        const value = s.values[row] ?? 0
        const x0 = x(offset)
        const x1 = x(offset + value)
        if (x1 - x0 > 0.2)
          parts.push(
            `<rect x="${x0.toFixed(1)}" y="${rowTop}" width="${(x1 - x0).toFixed(1)}" height="${barHeight}" fill="${s.color}"><title>${escapeXml(`${category} · ${s.name}: ${fmt(value)}`)}</title></rect>`,
          )
        if (x1 - x0 > 34)
          parts.push(
            `<text x="${((x0 + x1) / 2).toFixed(1)}" y="${rowTop + barHeight / 2 + 4}" font-size="11" fill="#fff" text-anchor="middle">${escapeXml(fmt(value))}</text>`,
          )
        offset += value
      }
    } else {
      chart.series.forEach((s, i) => {
        const value = s.values[row] ?? 0
        const y = rowTop + i * barHeight
        const x1 = x(Math.min(value, max))
        parts.push(
          `<rect x="${labelWidth}" y="${y}" width="${Math.max(0.5, x1 - labelWidth).toFixed(1)}" height="${barHeight - 2}" fill="${s.color}"><title>${escapeXml(`${category} · ${s.name}: ${fmt(value)}`)}</title></rect>`,
        )
        parts.push(
          `<text x="${(x1 + 4).toFixed(1)}" y="${y + barHeight / 2 + 2}" font-size="${groupCount > 1 ? 10 : 11}" fill="#374151">${escapeXml(fmt(value))}</text>`,
        )
      })
    }
  })
  parts.push('</svg>')
  return parts.join('\n')
}
