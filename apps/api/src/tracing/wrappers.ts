import {
  type Attributes,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import type { L2Store, Loader } from '@strata/cache-core'
import type { Database } from '../db/client.js'
import type { StoredRecord } from '../db/records.js'

// Decorators that put spans around the calls a request makes to Redis and PostgreSQL. They are
// only ever installed when tracing is on (see `tracing.ts`): off, the calls are the bare ones.

/** Ends `span`, marking it failed with `error` when there is one. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error))
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message })
  }
  span.end()
}

/** Runs `work` inside a new active span, ended (and marked failed on a rejection) when it settles. */
export function inSpan<R>(
  tracer: Tracer,
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes },
  work: (span: Span) => Promise<R>,
): Promise<R> {
  const span = tracer.startSpan(name, options)
  let running: Promise<R>
  try {
    running = context.with(trace.setSpan(context.active(), span), () => work(span))
  } catch (error) {
    // A synchronous throw reaches the caller as a rejection, and ends the span all the same.
    endSpan(span, error)
    return Promise.reject(error)
  }
  return running.then(
    (value) => {
      endSpan(span)
      return value
    },
    (error: unknown) => {
      endSpan(span, error)
      throw error
    },
  )
}

const REDIS = { 'db.system.name': 'redis' } as const
const POSTGRES = { 'db.system.name': 'postgresql' } as const

/**
 * The L2 store with a span around each read, write and fence. `fence` is one EVALSHA of
 * fence.lua that raises the fence AND publishes the invalidation on the bus: its span is named
 * `strata.publish` (a producer span) and says so with `strata.fence: true`.
 */
export function tracedStore(tracer: Tracer, store: L2Store): L2Store {
  const client = (operation: string, key: string) => ({
    kind: SpanKind.CLIENT,
    attributes: { ...REDIS, 'db.operation.name': operation, 'strata.key': key },
  })
  const traced: L2Store = {
    get: (key) => inSpan(tracer, 'redis GET', client('GET', key), () => store.get(key)),
    // Every argument is passed on as it came (`...args`): one the wrapper did not name, such as
    // set's lease token, is not dropped (a dropped token leaves the fill lease until it expires).
    set: (...args) =>
      inSpan(tracer, 'redis EVALSHA set.lua', client('EVALSHA', args[0]), async (span) => {
        const accepted = await store.set(...args)
        span.setAttributes({ 'strata.version': args[1].version, 'strata.accepted': accepted })
        return accepted
      }),
    fence: (...args) => {
      const [key, version, , , , announce, lease] = args
      return inSpan(
        tracer,
        'strata.publish',
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            ...REDIS,
            'db.operation.name': 'EVALSHA',
            'messaging.system': 'redis',
            'messaging.operation.type': 'publish',
            'messaging.destination.name': announce?.channel ?? '',
            'strata.key': key,
            'strata.version': version,
            'strata.fence': true,
            'strata.published': announce !== undefined,
            'strata.fill_lease': lease !== undefined,
          },
        },
        () => store.fence(...args),
      )
    },
    unfence: store.unfence.bind(store),
    syncGeneration: store.syncGeneration.bind(store),
    bumpGeneration: store.bumpGeneration.bind(store),
  }
  // Optional methods stay absent when the store has none (that turns fill leases off).
  if (store.takeFillLease) traced.takeFillLease = store.takeFillLease.bind(store)
  if (store.dropFillLease) traced.dropFillLease = store.dropFillLease.bind(store)
  return traced
}

/** The cache's loader with a span for its PostgreSQL query. */
export function tracedLoader(tracer: Tracer, loader: Loader<StoredRecord>): Loader<StoredRecord> {
  const options = {
    kind: SpanKind.CLIENT,
    attributes: { ...POSTGRES, 'db.operation.name': 'SELECT', 'db.collection.name': 'records' },
  }
  return (key) =>
    inSpan(tracer, 'SELECT records', options, async (span) => {
      const loaded = await loader(key)
      span.setAttribute('strata.version', loaded?.version ?? 0)
      return loaded
    })
}

/**
 * The database with a `strata.transaction` span around each write transaction (BEGIN to the
 * answer of its COMMIT) and, inside it, a `COMMIT` span: from the moment the transaction's work
 * is done (the client sends `COMMIT AND CHAIN` right then) to that COMMIT's answer.
 *
 * The transaction's context is handed to its work explicitly: postgres.js runs the callback from
 * its own connection queue, where the caller's async context is not guaranteed to survive.
 */
export function tracedDatabase(tracer: Tracer, db: Database): Database {
  const transaction: Database['transaction'] = (work) =>
    inSpan(
      tracer,
      'strata.transaction',
      { kind: SpanKind.CLIENT, attributes: { ...POSTGRES } },
      (txSpan) => {
        const inTransaction = trace.setSpan(context.active(), txSpan)
        let commit: Span | undefined
        return db
          .transaction(async (tx) => {
            const value = await context.with(inTransaction, () => work(tx))
            commit = tracer.startSpan(
              'COMMIT',
              { kind: SpanKind.CLIENT, attributes: { ...POSTGRES, 'db.operation.name': 'COMMIT' } },
              inTransaction,
            )
            return value
          })
          .then(
            (value) => {
              if (commit) endSpan(commit)
              return value
            },
            (error: unknown) => {
              if (commit) endSpan(commit, error)
              throw error
            },
          )
      },
    )
  return { ...db, transaction }
}
