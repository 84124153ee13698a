import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import {
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Link,
  ROOT_CONTEXT,
  SpanKind,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import type { CacheEvents, L2Store, Loader, TieredCache } from '@strata/cache-core'
import type { MiddlewareHandler } from 'hono'
import type { Database } from '../db/client.js'
import type { StoredRecord } from '../db/records.js'
import type { Env } from '../env.js'
import { rawHeader } from '../http/raw-header.js'
import type { Logger } from '../logger.js'
import { redactUrl } from '../redact.js'
import { LoggedExporter } from './logged-exporter.js'
import { endSpan, inSpan, tracedDatabase, tracedLoader, tracedStore } from './wrappers.js'

const propagator = new W3CTraceContextPropagator()
/** Set by the first replica that traces (tests run several in one process). */
let contextManager: AsyncLocalStorageContextManager | undefined

/** The longest a replica's shutdown waits for its last spans to be exported, in milliseconds. */
export const SHUTDOWN_EXPORT_MS = 2_000

/** The span name of every `GET /read/{key}`, whichever path (fast or router) answers it. */
const READ_SPAN = 'GET /read/{key}'

/** Where spans go: the traces endpoint, else `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`. */
export function tracesUrl(env: Env): string | undefined {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined
}

/**
 * Traces exported over OTLP/HTTP (JSON), when `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; undefined otherwise, and then nothing is traced
 * and nothing is wrapped: no span, no no-op tracer call, on any path (callers check for
 * undefined once, when they are built).
 */
export function startTracing(env: Env, logger: Logger): Tracing | undefined {
  const url = tracesUrl(env)
  return url === undefined ? undefined : new Tracing(env, url, logger)
}

/**
 * One replica's tracer provider (not the global one: tests run several replicas in one process,
 * each with its own `service.instance.id`), and the hooks the app installs with it.
 */
export class Tracing {
  readonly #provider: NodeTracerProvider
  readonly tracer: Tracer

  constructor(env: Env, url: string, logger: Logger) {
    // Spans find their parents through the async context: one manager for the whole process.
    contextManager ??= new AsyncLocalStorageContextManager().enable()
    context.setGlobalContextManager(contextManager)
    const report = (error: unknown, failedBatches: number) =>
      logger.warn(
        { err: error, failed_batches: failedBatches, url: redactUrl(url) },
        'traces not exported: the OTLP endpoint failed (spans dropped)',
      )
    this.#provider = new NodeTracerProvider({
      resource: resourceFromAttributes({
        'service.name': env.OTEL_SERVICE_NAME,
        'service.instance.id': env.REPLICA_ID,
      }),
      // Batched, off the request path; the OTEL_BSP_* variables tune it.
      spanProcessors: [
        new BatchSpanProcessor(new LoggedExporter(new OTLPTraceExporter({ url }), report)),
      ],
    })
    this.tracer = this.#provider.getTracer('strata-api')
  }

  /**
   * The node listener with a server span around every request, for the L1 fast path too (it
   * answers before Hono, which is why `@hono/otel`, a Hono middleware, cannot be the server
   * span: it would miss fast-path reads and nest a second server span in router requests).
   * Reads carry `strata.tier`: the `X-Cache-Level` answered, or `none` (an error).
   */
  listener(next: RequestListener): RequestListener {
    return (req, res) => {
      const target = req.url ?? '/'
      const path = target.split('?', 1)[0] as string
      const read = req.method === 'GET' && path.startsWith('/read/')
      const parent = callerContext(req)
      const span = this.tracer.startSpan(
        read ? READ_SPAN : `${req.method}`,
        {
          kind: SpanKind.SERVER,
          attributes: { 'http.request.method': req.method ?? '', 'url.path': path },
        },
        parent,
      )
      const tier = read ? watchTier(res) : undefined
      res.once('close', () => {
        span.setAttribute('http.response.status_code', res.statusCode)
        if (tier) span.setAttribute('strata.tier', tier())
        endSpan(span, res.statusCode >= 500 ? new Error(`HTTP ${res.statusCode}`) : undefined)
      })
      context.with(trace.setSpan(parent, span), () => next(req, res))
    }
  }

  /** Names the server span after the route that answered (`POST /write`), as Hono matched it. */
  readonly route: MiddlewareHandler = async (c, next) => {
    await next()
    const route = c.req.routePath.replace(/:(\w+)/g, '{$1}')
    const span = trace.getActiveSpan()
    span?.updateName(`${c.req.method} ${route}`)
    span?.setAttribute('http.route', route)
  }

  /**
   * A write's invalidation, in a `strata.fence` span: the local eviction, then one Redis command
   * (its `strata.publish` child) that fences and publishes. The invalidation carries this span's
   * trace context (see {@link traceparent}), so every replica's eviction links to it.
   */
  fence(key: string, version: number, invalidate: () => Promise<void>): Promise<void> {
    const attributes = { 'strata.key': key, 'strata.version': version }
    return inSpan(this.tracer, 'strata.fence', { attributes }, async (span) => {
      await invalidate()
      span.setAttribute('strata.published', true)
    })
  }

  /** The W3C traceparent of the active span, for the bus message (cache-core's `traceparent`). */
  readonly traceparent = (): string | undefined => {
    const carrier: Record<string, string> = {}
    propagator.inject(context.active(), carrier, defaultTextMapSetter)
    return carrier.traceparent
  }

  /**
   * A `strata.evict` span for each invalidation this replica applies: heard on the bus (linked
   * to the writer's `strata.fence` span by the message's traceparent) or its own write's (linked
   * to the active `strata.fence` span). Each is a root span of its own trace, as a consumer's
   * work is: the write's trace does not wait for it.
   */
  traceEvictions(cache: TieredCache<StoredRecord>): void {
    cache.events.on('invalidate', (event) => this.#evicted(event))
  }

  #evicted(event: CacheEvents['invalidate']): void {
    const writer = event.local
      ? trace.getSpanContext(context.active())
      : linkedContext(event.traceparent)
    const links: Link[] = writer ? [{ context: writer }] : []
    const span = this.tracer.startSpan('strata.evict', {
      kind: SpanKind.CONSUMER,
      root: true,
      links,
      attributes: {
        'messaging.system': 'redis',
        'messaging.operation.type': 'process',
        'strata.key': event.key,
        'strata.version': event.version,
        'strata.origin': event.origin,
        'strata.local': event.local,
      },
    })
    span.end()
  }

  store = (store: L2Store): L2Store => tracedStore(this.tracer, store)
  loader = (loader: Loader<StoredRecord>): Loader<StoredRecord> => tracedLoader(this.tracer, loader)
  database = (db: Database): Database => tracedDatabase(this.tracer, db)

  /** Exports every ended span now (tests; shutdown does it too). */
  flush(): Promise<void> {
    return this.#provider.forceFlush()
  }

  /**
   * Exports what is left and stops, for at most `SHUTDOWN_EXPORT_MS`: a collector that is down
   * or slow must not hold up the replica's exit (its spans are dropped then).
   */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const givenUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS)
    })
    const done = this.#provider.shutdown().catch(() => {})
    await Promise.race([done, givenUp])
    clearTimeout(timer)
  }
}

/**
 * The answering tier of a read, from the `X-Cache-Level` it answers with (`none` when no tier
 * answered: an error). Both paths pass their headers to `writeHead` (where `getHeader` cannot
 * see them), so this response's `writeHead` is watched; only ever installed when tracing is on.
 */
function watchTier(res: ServerResponse<IncomingMessage>): () => string {
  let tier: string | undefined
  const writeHead = res.writeHead
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    // `writeHead(status[, message][, headers])`; both paths name their headers in lowercase (the
    // fast path by hand, the adapter from a `Headers`, which lowercases them).
    const headers = args[args.length - 1]
    if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
      const level = (headers as Record<string, unknown>)['x-cache-level']
      if (level !== undefined) tier = String(level)
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args)
  } as typeof res.writeHead
  return () => {
    const set = res.getHeader('x-cache-level')
    return tier ?? (typeof set === 'string' ? set : 'none')
  }
}

/**
 * The caller's trace context from its `traceparent` (and `tracestate`) header, or the root
 * context without one: read from `rawHeaders`, so that `req.headers` is not built for it.
 */
function callerContext(req: IncomingMessage): Context {
  const traceparent = rawHeader(req.rawHeaders, 'traceparent')
  if (traceparent === undefined) return ROOT_CONTEXT
  const tracestate = rawHeader(req.rawHeaders, 'tracestate')
  const carrier = tracestate === undefined ? { traceparent } : { traceparent, tracestate }
  return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter)
}

/** The span context a bus message's traceparent names; undefined when it names none. */
function linkedContext(traceparent: string | undefined) {
  if (traceparent === undefined) return undefined
  const extracted: Context = propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter)
  return trace.getSpanContext(extracted)
}
