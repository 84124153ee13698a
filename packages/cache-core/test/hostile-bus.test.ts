import { describe, expect, it } from 'vitest'
import { MAX_KEY_LENGTH } from '../src/bus/messages.js'
import { InvalidationError, type TieredCache } from '../src/index.js'
import { decodeL2Record } from '../src/stores/l2-record.js'
import { nextEvent, useRedisTestbed, VersionedTable } from './helpers.js'

// Anyone who can PUBLISH on the invalidation channel can send a replica anything. A replica must
// not crash, must count and drop what does not parse, and a message that does parse must cost at
// most what a real one would: the one key it names, or (a clear) L1.

const bed = useRedisTestbed()

const KEYS = Array.from({ length: 8 }, (_, i) => `key-${i}`)
const MARKER = '__marker__'
let markers = 0

/** A replica `a` (with a peer `b`) whose L1 holds every key of KEYS. */
async function primedReplica(): Promise<{
  a: TieredCache<string>
  b: TieredCache<string>
  table: VersionedTable
}> {
  const table = new VersionedTable()
  for (const key of KEYS) table.write(key, `value of ${key}`)
  const a = await bed.caches.create({ loader: table.loader, instanceId: 'replica-a' })
  const b = await bed.caches.create({ loader: table.loader, instanceId: 'replica-b' })
  for (const key of KEYS) await a.get(key)
  expect(inL1(a)).toEqual(KEYS)
  return { a, b, table }
}

/** The keys of KEYS that `a` serves from L1 right now (peek: no I/O, no load). */
const inL1 = (cache: TieredCache<string>) => KEYS.filter((key) => cache.peek(key) !== undefined)

/**
 * Publishes raw payloads, then a well-formed marker, and resolves once `cache` heard the marker.
 * Redis delivers one connection's messages in order, so everything before it was handled.
 */
async function publish(
  cache: TieredCache<string>,
  ...payloads: (string | Buffer)[]
): Promise<void> {
  const channel = `${bed.prefix}:bus`
  const version = ++markers
  const heard = nextEvent(cache, 'invalidate', (e) => e.key === MARKER && e.version === version)
  for (const payload of payloads) await bed.redis.publish(channel, payload)
  await bed.redis.publish(
    channel,
    JSON.stringify({ v: 1, type: 'invalidate', key: MARKER, version, origin: 'tester' }),
  )
  await heard
}

const message = (fields: Record<string, unknown>) =>
  JSON.stringify({ v: 1, origin: 'forger', ...fields })
const invalidation = (fields: Record<string, unknown>) =>
  message({ type: 'invalidate', key: 'key-0', version: 99, ...fields })
const MiB = 1024 * 1024

const malformed: [name: string, payload: string | Buffer][] = [
  ['garbage bytes', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc0, 0xaf, 0x7b])],
  ['an empty payload', ''],
  ['text', 'evict everything'],
  ['truncated JSON', '{"v":1,"type":"invalidate","key":"key-0"'],
  ['JSON null', 'null'],
  ['a JSON array', JSON.stringify([{ v: 1, type: 'clear', generation: 9, origin: 'x' }])],
  ['a JSON number', '42'],
  ['an empty object', '{}'],
  ['an unknown format version', invalidation({ v: 2 })],
  ['a format version as a string', invalidation({ v: '1' })],
  ['an unknown type', message({ type: 'evict-all' })],
  ['a type in other case', invalidation({ type: 'INVALIDATE' })],
  ['a missing key', message({ type: 'invalidate', version: 1 })],
  ['an empty key', invalidation({ key: '' })],
  ['a numeric key', invalidation({ key: 0 })],
  ['a null key', invalidation({ key: null })],
  ['an array key', invalidation({ key: ['key-0', 'key-1'] })],
  ['an object key', invalidation({ key: { toString: 'key-0' } })],
  ['a 1 MiB key', invalidation({ key: 'k'.repeat(MiB) })],
  ['a negative version', invalidation({ version: -1 })],
  ['a fractional version', invalidation({ version: 1.5 })],
  ['a version past 2^53', invalidation({ version: 2 ** 53 })],
  ['a version of 1e300', invalidation({ version: 1e300 })],
  ['NaN as a version (null in JSON)', invalidation({ version: Number.NaN })],
  ['a version as a string', invalidation({ version: '7' })],
  ['a missing origin', JSON.stringify({ v: 1, type: 'invalidate', key: 'key-0', version: 1 })],
  ['an empty origin', invalidation({ origin: '' })],
  ['a numeric origin', invalidation({ origin: 7 })],
  ['a 100 KiB origin', invalidation({ origin: 'o'.repeat(100 * 1024) })],
  ['a negative generation', message({ type: 'clear', generation: -1 })],
  ['a fractional generation', message({ type: 'clear', generation: 0.5 })],
  ['a generation past 2^53', message({ type: 'clear', generation: 2 ** 60 })],
  ['a generation as a string', message({ type: 'clear', generation: '3' })],
  ['a 10 MiB payload of garbage', 'x'.repeat(10 * MiB)],
  ['a 10 MiB well-formed invalidation', invalidation({ key: 'k'.repeat(10 * MiB) })],
]

describe('hostile bus messages', () => {
  it.each(malformed)(
    'counts %s and empties L1, since it cannot tell what it invalidated',
    async (_name, payload) => {
      const { a } = await primedReplica()
      const before = a.stats()
      await publish(a, payload)
      const after = a.stats()
      expect(after.malformedMessages).toBe(before.malformedMessages + 1)
      // A message from a newer release may have invalidated anything: L1 is dropped, locally only
      // (L2 keeps its generation, nothing is cleared for the other replicas).
      expect(after.invalidationsReceived).toBe(before.invalidationsReceived + 1)
      expect(after.clearsReceived).toBe(before.clearsReceived)
      expect(after.generation).toBe(before.generation)
      expect(inL1(a)).toEqual([])
      expect(a.health()).toMatchObject({ l1: 'serving', bus: 'up' })
      expect(await a.get('key-0')).toMatchObject({ value: 'value of key-0', level: 'L2' })
    },
  )

  it('hands listeners at most the first KiB of a malformed payload', async () => {
    const { a } = await primedReplica()
    const dropped = nextEvent(a, 'malformed')
    await publish(a, 'x'.repeat(10 * MiB))
    expect((await dropped).raw.length).toBeLessThanOrEqual(1024)
  })

  it('lets a forged invalidation evict the one key it names and no other', async () => {
    const { a } = await primedReplica()
    await publish(a, invalidation({ key: 'key-3', version: 0 }))
    expect(inL1(a)).toEqual(KEYS.filter((key) => key !== 'key-3'))
    // A low version fences nothing: the key is loaded and cached again at its real version.
    expect(await a.get('key-3')).toMatchObject({ value: 'value of key-3', version: 1, level: 'L2' })
    expect(a.peek('key-3')).toMatchObject({ version: 1 })
  })

  it('leaves untouched a forged invalidation of a key that is not cached, or outside the key space', async () => {
    const { a } = await primedReplica()
    await publish(
      a,
      invalidation({ key: 'not-cached' }),
      invalidation({ key: 'strata:m:generation' }),
      invalidation({ key: '__proto__' }),
      invalidation({ key: '*' }),
    )
    expect(inL1(a)).toEqual(KEYS)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('turns a forged high version into L1 misses on that key only, never into stale data', async () => {
    const { a, b, table } = await primedReplica()
    await publish(a, invalidation({ key: 'key-5', version: Number.MAX_SAFE_INTEGER }))
    expect(inL1(a)).toEqual(KEYS.filter((key) => key !== 'key-5'))
    // The local fence now refuses key-5 from L1 and L2 (until fenceTtl): it is served from the
    // source, at its real version, and cached nowhere.
    expect(await a.get('key-5')).toMatchObject({ value: 'value of key-5', version: 1, level: 'DB' })
    expect(a.peek('key-5')).toBeUndefined()
    expect(a.stats().staleSetsRejected).toBeGreaterThan(0)
    // A real write still wins; the other keys stay cached throughout.
    await b.invalidate('key-5', table.write('key-5', 'new'))
    expect(await a.get('key-5')).toMatchObject({ value: 'new', version: 2, level: 'DB' })
    expect(inL1(a)).toEqual(KEYS.filter((key) => key !== 'key-5'))
  })

  it('ignores a forged message that names the replica itself as its origin; its peers apply it', async () => {
    const { a, b } = await primedReplica()
    await b.get('key-1')
    const before = a.stats()
    const bHeard = nextEvent(b, 'invalidate', (e) => e.key === 'key-1')
    await publish(a, invalidation({ key: 'key-1', origin: a.origin }))
    await bHeard
    expect(inL1(a)).toEqual(KEYS)
    expect(a.stats().invalidationsReceived).toBe(before.invalidationsReceived + 1) // the marker
    expect(b.peek('key-1')).toBeUndefined()
  })

  it('lets a forged clear empty L1, but takes the generation from Redis, not from the message', async () => {
    const { a, b } = await primedReplica()
    const generationKey = `${bed.prefix}:m:generation`
    const cleared = nextEvent(a, 'clear')
    await publish(a, message({ type: 'clear', generation: Number.MAX_SAFE_INTEGER }))
    await cleared
    expect(inL1(a)).toEqual([])
    expect(a.stats().generation).toBe(Number((await bed.redis.get(generationKey)) ?? 0))
    // L2 still serves what it held: the forged generation did not orphan it.
    expect(await a.get('key-2')).toMatchObject({ value: 'value of key-2', level: 'L2' })
    // And a real clear still empties L2 for this replica too.
    const realClear = nextEvent(a, 'clear')
    await b.clear()
    await realClear
    expect(await a.get('key-4')).toMatchObject({ level: 'DB' })
  })

  it('survives a flood of forged messages, and L1 fills again once it stops', async () => {
    const { a } = await primedReplica()
    const flood = Array.from({ length: 2_000 }, (_, i) =>
      i % 2 === 0 ? `junk ${i}` : invalidation({ key: `absent-${i}`, version: i }),
    )
    await publish(a, ...flood)
    expect(a.stats().malformedMessages).toBe(1_000)
    expect(a.health()).toMatchObject({ l1: 'serving', bus: 'up' })
    for (const key of KEYS) await a.get(key)
    expect(inL1(a)).toEqual(KEYS)
  })
})

describe('what an instance puts on the bus', () => {
  it.each([
    ['an empty key', '', 1],
    ['a key over MAX_KEY_LENGTH', 'k'.repeat(MAX_KEY_LENGTH + 1), 1],
    ['a negative version', 'k', -1],
    ['a fractional version', 'k', 1.5],
    ['a version past 2^53', 'k', 2 ** 53],
  ])(
    'refuses to invalidate %s, which its peers would drop and so keep serving stale',
    async (_name, key, version) => {
      const table = new VersionedTable()
      table.write(key, 'old')
      const a = await bed.caches.create({ loader: table.loader, instanceId: 'writer' })
      const b = await bed.caches.create({ loader: table.loader, instanceId: 'reader' })
      await b.get(key)
      await expect(a.invalidate(key, version)).rejects.toThrow(InvalidationError)
      await expect(a.invalidate(key, version)).rejects.toThrow('it cannot be sent')
      // Nothing was sent or fenced: the marker is the next thing b hears.
      const before = b.stats()
      await publish(b)
      expect(b.stats().invalidationsReceived).toBe(before.invalidationsReceived + 1)
      expect(b.stats().malformedMessages).toBe(before.malformedMessages)
      const stored = await bed.redis.get(`${bed.prefix}:k:${key}`)
      expect(stored === null ? undefined : decodeL2Record(stored)?.kind).not.toBe('fence')
    },
  )
})
