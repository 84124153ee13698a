import { describe, expect, it } from 'vitest'
import { textTable } from './text-table.js'

const rows = [
  ['name', 'p99'],
  ['replica-1', '4.0 ms'],
  ['nginx', '12 ms'],
]

describe('textTable', () => {
  it('pads every column to its widest cell, left-aligned, trailing spaces trimmed', () => {
    expect(textTable(rows)).toBe('name       p99\nreplica-1  4.0 ms\nnginx      12 ms')
  })

  it('right-aligns what alignRight picks, with the given indent and gap', () => {
    expect(textTable(rows, { indent: '> ', gap: ' | ', alignRight: (_, i) => i > 0 })).toBe(
      '> name      |    p99\n> replica-1 | 4.0 ms\n> nginx     |  12 ms',
    )
  })

  it('draws a rule under the header', () => {
    expect(textTable(rows, { rule: true }).split('\n')[1]).toBe('─────────  ──────')
  })
})
