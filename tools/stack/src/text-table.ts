/** How {@link textTable} lays out its columns. */
export interface TextTableOptions {
  /** Before every line. @default '' */
  indent?: string
  /** Between columns. @default '  ' */
  gap?: string
  /** Which cells are right-aligned (numbers, usually). @default none */
  alignRight?: (cell: string, column: number) => boolean
  /** A line of `─` under the first row, the header. @default false */
  rule?: boolean
}

/**
 * Pads the cells of each column to one width, for the tools' terminal output (`pnpm stack
 * status`, a load test's summary, the chaos table). Trailing spaces are trimmed.
 */
export function textTable(
  rows: readonly (readonly string[])[],
  options: TextTableOptions = {},
): string {
  const { indent = '', gap = '  ', alignRight = () => false } = options
  const widths: number[] = []
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  const line = (row: readonly string[]) =>
    indent +
    row
      .map((cell, i) =>
        alignRight(cell, i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join(gap)
      .trimEnd()
  const lines = rows.map(line)
  if (options.rule && lines.length > 0)
    lines.splice(1, 0, indent + widths.map((width) => '─'.repeat(width)).join(gap))
  return lines.join('\n')
}
