// The L2 wire format. It belongs to the stores: nothing here knows of lookups or the cache.

/**
 * An L2 record, decoded. `fence` records carry no value: they only refuse older versions.
 * `expiresAt` is absolute (epoch ms), so any replica can tell how long the entry has left.
 */
export type L2Record =
  | { kind: 'value'; version: number; expiresAt: number; generation: number; payload: string }
  | { kind: 'absent'; version: number; expiresAt: number; generation: number }
  | {
      kind: 'fence'
      version: number
      generation: number
      /** Names the write that left it, so that only that write can take it back (`unfence`). */
      nonce?: string
    }

const KIND_CODE = { value: 'v', absent: 'n', fence: 't' } as const

/**
 * Encodes an L2 record as `version:expiresAt:generation:kind:payload`.
 * The version comes first so that Lua scripts can read it with GETRANGE, without copying the payload.
 */
export function encodeL2Record(record: L2Record): string {
  const expiresAt = record.kind === 'fence' ? 0 : record.expiresAt
  const payload =
    record.kind === 'value' ? record.payload : record.kind === 'fence' ? (record.nonce ?? '') : ''
  return `${record.version}:${expiresAt}:${record.generation}:${KIND_CODE[record.kind]}:${payload}`
}

/** Decodes what `encodeL2Record` wrote; undefined for anything else (treated as a miss). */
export function decodeL2Record(raw: string): L2Record | undefined {
  const a = raw.indexOf(':')
  const b = raw.indexOf(':', a + 1)
  const c = raw.indexOf(':', b + 1)
  if (a < 1 || b < 0 || c < 0 || raw.charCodeAt(c + 2) !== 58 /* ':' */) return undefined
  const version = Number(raw.slice(0, a))
  const expiresAt = Number(raw.slice(a + 1, b))
  const generation = Number(raw.slice(b + 1, c))
  if (
    !Number.isSafeInteger(version) ||
    !Number.isFinite(expiresAt) ||
    !Number.isSafeInteger(generation)
  ) {
    return undefined
  }
  switch (raw[c + 1]) {
    case 'v':
      return { kind: 'value', version, expiresAt, generation, payload: raw.slice(c + 3) }
    case 'n':
      return { kind: 'absent', version, expiresAt, generation }
    case 't':
      return raw.length > c + 3
        ? { kind: 'fence', version, generation, nonce: raw.slice(c + 3) }
        : { kind: 'fence', version, generation }
    default:
      return undefined
  }
}
