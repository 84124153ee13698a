import { Socket } from 'node:net'
import { type PostgresServer, startPostgresServer } from '@strata/test-servers'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createDatabase, type Database } from '../src/db/client.js'
import { migrate } from '../src/db/migrate.js'
import { RecordsRepository } from '../src/db/records.js'

// What a write costs on the wire to PostgreSQL: BEGIN leaves with the write's statements, COMMIT
// (with the empty transaction it chains, for postgres.js's own COMMIT) in a second write.
let server: PostgresServer
let db: Database
let records: RecordsRepository
let direct: postgres.Sql

beforeAll(async () => {
  server = await startPostgresServer()
  direct = postgres(server.url, { max: 1, onnotice: () => {} })
  await migrate(direct)
  db = createDatabase(server.url, { max: 1 })
  records = new RecordsRepository(db)
})
afterEach(() => {
  vi.restoreAllMocks()
})
afterAll(async () => {
  await db?.close()
  await direct?.end()
  await server?.stop()
})

/**
 * The socket writes to PostgreSQL made while `work` runs (one per round trip), as handed to the
 * kernel (`_writeGeneric` takes each write or writev that leaves a net.Socket).
 */
async function socketWrites(work: (writes: string[]) => Promise<unknown>): Promise<string[]> {
  const writes: string[] = []
  const port = server.port
  const proto = Socket.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  const original = proto._writeGeneric as (...args: unknown[]) => unknown
  vi.spyOn(proto, '_writeGeneric').mockImplementation(function (this: Socket, ...args) {
    const [writev, data] = args as [boolean, unknown]
    if (this.remotePort === port) {
      const chunks = writev ? (data as { chunk: Uint8Array }[]).map((c) => c.chunk) : [data]
      writes.push(chunks.map((c) => Buffer.from(c as Uint8Array).toString('latin1')).join(''))
    }
    return original.apply(this, args)
  })
  await work(writes)
  vi.restoreAllMocks()
  return writes
}

const noop = async () => {}

describe('a write transaction on the wire', () => {
  it('an upsert is two socket writes (two round trips): BEGIN with its statements, then COMMIT', async () => {
    await records.upsert('rt', 'warm', noop) // the connection is open and its statements prepared
    let invalidatedWith = 0
    const writes = await socketWrites((sent) =>
      records.upsert('rt', 'v2', async () => {
        invalidatedWith = sent.length
      }),
    )
    expect(writes).toHaveLength(2)
    expect(invalidatedWith).toBe(1) // the invalidation ran between the two, before COMMIT
    expect(writes[0]).toMatch(/^Q.{4}begin/)
    // The prepared statements go by name: their parameters (the value) show they went along.
    expect(writes[0]).toContain('v2')
    expect(writes[1]).toContain('COMMIT AND CHAIN')
    const [row] = await direct<{ value: string; version: string }[]>`
      SELECT value, version FROM records WHERE key = 'rt'`
    expect(row).toEqual({ value: 'v2', version: '2' })
  })

  it('a delete is two socket writes too', async () => {
    await records.upsert('rt-del', 'v1', noop)
    await records.delete('rt-warm', noop)
    const writes = await socketWrites(() => records.delete('rt-del', noop))
    expect(writes).toHaveLength(2)
    expect(writes[0]).toMatch(/^Q.{4}begin/)
  })
})

describe('a write statement outside its transaction (as if BEGIN had been refused)', () => {
  // Runs the write's statements with no BEGIN at all, each one on its own, as they would run
  // were the pipelined BEGIN refused while they were already on their way.
  const autocommit = new RecordsRepository({
    ...({} as Database),
    transaction: (work) => work(direct as unknown as postgres.TransactionSql),
  })

  it('an upsert raises an error and writes nothing', async () => {
    await expect(autocommit.upsert('outside', 'v1', noop)).rejects.toThrow(
      /strata\.write_outside_its_transaction/,
    )
    expect(await direct`SELECT 1 FROM records WHERE key = 'outside'`).toHaveLength(0)
  })

  it('a delete raises an error and deletes nothing', async () => {
    await records.upsert('outside-del', 'v1', noop)
    await expect(autocommit.delete('outside-del', noop)).rejects.toThrow(
      /strata\.write_outside_its_transaction/,
    )
    expect(await direct`SELECT 1 FROM records WHERE key = 'outside-del'`).toHaveLength(1)
  })
})
