import { SpanStatusCode } from '@opentelemetry/api'
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-node'
import type { L2Store } from '@strata/cache-core'
import { beforeEach, describe, expect, it } from 'vitest'
import type { Database } from '../db/client.js'
import { inSpan, tracedDatabase, tracedStore } from './wrappers.js'

const exporter = new InMemorySpanExporter()
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const tracer = provider.getTracer('test')

function spans() {
  const finished = exporter.getFinishedSpans()
  exporter.reset()
  return finished
}

const store = (withLeases: boolean): L2Store => ({
  get: async () => undefined,
  set: async () => true,
  fence: async () => {},
  unfence: async () => true,
  syncGeneration: async (known) => known,
  bumpGeneration: async (known) => known + 1,
  ...(withLeases
    ? { takeFillLease: async () => 'taken' as const, dropFillLease: async () => {} }
    : {}),
})

describe('tracing wrappers', () => {
  // A test that failed midway leaves its spans: the next starts without them.
  beforeEach(() => exporter.reset())

  it('keep an L2 store without fill leases without them (that turns them off), and with them', () => {
    expect(tracedStore(tracer, store(false)).takeFillLease).toBeUndefined()
    expect(tracedStore(tracer, store(false)).dropFillLease).toBeUndefined()
    expect(tracedStore(tracer, store(true)).takeFillLease).toBeTypeOf('function')
    expect(tracedStore(tracer, store(true)).dropFillLease).toBeTypeOf('function')
  })

  it('pass every argument of set and fence on, the optional last ones too (the lease token)', async () => {
    const received: Record<string, unknown[]> = {}
    const recording: L2Store = {
      ...store(true),
      set: async (...args) => {
        received.set = args
        return true
      },
      fence: async (...args) => {
        received.fence = args
      },
    }
    const traced = tracedStore(tracer, recording)
    const record = { version: 1, value: 'v', generation: 0 } as unknown as Parameters<
      L2Store['set']
    >[1]
    await traced.set('k', record, 1000, 2000, 'lease-token')
    expect(received.set).toEqual(['k', record, 1000, 2000, 'lease-token'])
    const announce = { channel: 'strata:bus', payload: '{}', sharded: false }
    const lease = { key: 'strata:l:k', token: 't' } as unknown as Parameters<L2Store['fence']>[6]
    await traced.fence('k', 3, 1, 'n', 1000, announce, lease)
    expect(received.fence).toEqual(['k', 3, 1, 'n', 1000, announce, lease])
    spans()
  })

  it('name the fence command for what it does: fence and publish, on its channel', async () => {
    const announce = { channel: 'strata:bus', payload: '{}', sharded: false }
    await tracedStore(tracer, store(true)).fence('k', 3, 1, 'n', 1000, announce)
    const [publish] = spans()
    expect(publish?.name).toBe('strata.publish')
    expect(publish?.attributes).toMatchObject({
      'messaging.destination.name': 'strata:bus',
      'strata.fence': true,
      'strata.published': true,
      'strata.version': 3,
    })
  })

  it('end a span whose work throws, synchronously or not, as failed', async () => {
    const thrown = new Error('sync')
    await expect(
      inSpan(tracer, 'sync', {}, () => {
        throw thrown
      }),
    ).rejects.toBe(thrown)
    await expect(inSpan(tracer, 'async', {}, async () => Promise.reject(thrown))).rejects.toBe(
      thrown,
    )
    expect(spans().map((s) => [s.name, s.status.code])).toEqual([
      ['sync', SpanStatusCode.ERROR],
      ['async', SpanStatusCode.ERROR],
    ])
  })

  it('time COMMIT inside the transaction, and make none for a transaction refused before it', async () => {
    const db = {
      transaction: async (work: (tx: never) => Promise<unknown>) => work(undefined as never),
    } as unknown as Database
    const traced = tracedDatabase(tracer, db)
    expect(await traced.transaction(async () => 7)).toBe(7)
    const [commit, transaction] = spans()
    expect([commit?.name, transaction?.name]).toEqual(['COMMIT', 'strata.transaction'])
    expect(commit?.parentSpanContext?.spanId).toBe(transaction?.spanContext().spanId)

    await expect(traced.transaction(() => Promise.reject(new Error('refused')))).rejects.toThrow()
    expect(spans().map((s) => [s.name, s.status.code])).toEqual([
      ['strata.transaction', SpanStatusCode.ERROR],
    ])
  })
})
