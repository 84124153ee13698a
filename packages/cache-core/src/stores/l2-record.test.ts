import { describe, expect, it } from 'vitest'
import { decodeL2Record, encodeL2Record, type L2Record } from './l2-record.js'

describe('L2 record encoding', () => {
  const records: L2Record[] = [
    { kind: 'value', version: 42, expiresAt: 1_700_000_000_000, generation: 3, payload: '"a:b:c"' },
    { kind: 'value', version: 1, expiresAt: 5, generation: 0, payload: '' },
    { kind: 'absent', version: 7, expiresAt: 99, generation: 1 },
    { kind: 'fence', version: 9, generation: 2 },
  ]

  it.each(records)('round-trips a $kind record', (record) => {
    expect(decodeL2Record(encodeL2Record(record))).toEqual(record)
  })

  it('puts the version first, where the Lua scripts read it', () => {
    expect(encodeL2Record({ kind: 'fence', version: 12, generation: 0 })).toMatch(/^12:/)
  })

  it.each(['', 'garbage', '1:2:3', 'x:1:1:v:', '1:1:1:q:', '1:1:1:v'])('rejects %j', (raw) => {
    expect(decodeL2Record(raw)).toBeUndefined()
  })
})
