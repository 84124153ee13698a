import { afterAll, describe, expect, it } from 'vitest'
import { eventually, startCluster, type TestReplica } from './harness.js'
import { type ReceivedSpan, renderTree, startOtlpReceiver } from './otlp-receiver.js'

// OpenTelemetry traces, exported to an in-process OTLP/HTTP receiver by three replicas: the span
// tree of one write on A, the eviction it causes on every replica (each linked to the write),
// and the spans of a read with the tier that answered it.

const receiver = await startOtlpReceiver()
afterAll(() => receiver.close())
const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'strata-test' }
const {
  replicas: [a, b, c],
} = await startCluster(
  { REPLICA_ID: 'trace-a', ...otel },
  { REPLICA_ID: 'trace-b', ...otel },
  { REPLICA_ID: 'trace-c', ...otel },
)
const replicas = [a, b, c]

/** Exports what every replica has ended, then finds the span `check` wants (polled, bounded). */
async function spansWhere<R>(check: (spans: readonly ReceivedSpan[]) => R): Promise<R> {
  let found: R | undefined
  await eventually(async () => {
    await Promise.all(replicas.map((replica) => replica.deps.tracing?.flush()))
    found = check(receiver.spans)
  }, 20_000)
  return found as R
}

function one(spans: readonly ReceivedSpan[], matches: (span: ReceivedSpan) => boolean) {
  const found = spans.filter(matches)
  expect(found, 'exactly one span matches').toHaveLength(1)
  return found[0] as ReceivedSpan
}

const childOf = (parent: ReceivedSpan) => (span: ReceivedSpan) =>
  span.traceId === parent.traceId && span.parentSpanId === parent.spanId

const writeOverSocket = (replica: TestReplica, key: string, value: string) =>
  replica.overSocket('/write', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key, value }),
  })

describe('traces', () => {
  it("exports a write's span tree on its replica, and a linked eviction on every replica", async () => {
    const key = 'traced-write'
    expect((await writeOverSocket(a, key, 'v1')).status).toBe(200)

    const write = await spansWhere((spans) =>
      one(spans, (s) => s.name === 'POST /write' && s.instance === 'trace-a'),
    )
    expect(write).toMatchObject({ kind: 2, service: 'strata-test' })
    expect(write.attributes).toMatchObject({
      'http.route': '/write',
      'http.response.status_code': 200,
    })
    const { transaction, fence, publish, commit } = await spansWhere((spans) => {
      const transaction = one(spans, (s) => s.name === 'strata.transaction' && childOf(write)(s))
      const fence = one(spans, (s) => s.name === 'strata.fence' && childOf(transaction)(s))
      const publish = one(spans, (s) => s.name === 'strata.publish' && childOf(fence)(s))
      const commit = one(spans, (s) => s.name === 'COMMIT' && childOf(transaction)(s))
      return { transaction, fence, publish, commit }
    })
    expect(transaction.attributes).toMatchObject({ 'db.system.name': 'postgresql' })
    expect(fence.attributes).toMatchObject({
      'strata.key': key,
      'strata.version': 1,
      'strata.published': true,
    })
    // One EVALSHA raised the fence and published the invalidation: the span says both.
    expect(publish.attributes).toMatchObject({
      'messaging.destination.name': 'strata:bus',
      'strata.fence': true,
      'strata.published': true,
    })
    expect(commit.attributes).toMatchObject({ 'db.operation.name': 'COMMIT' })

    // Every replica's eviction, the writer's included, links to the write's fence span.
    const evictions = await spansWhere((spans) =>
      replicas.map((replica) =>
        one(
          spans,
          (s) =>
            s.name === 'strata.evict' &&
            s.instance === replica.deps.env.REPLICA_ID &&
            s.attributes['strata.key'] === key,
        ),
      ),
    )
    for (const eviction of evictions) {
      expect(eviction.links).toEqual([{ traceId: fence.traceId, spanId: fence.spanId }])
      expect(eviction.attributes).toMatchObject({ 'strata.version': 1 })
    }
    expect(evictions.map((e) => e.attributes['strata.local'])).toEqual([true, false, false])
    // The whole tree, as docs/operations.md shows it (the L2 fill after COMMIT is not awaited
    // by the write, so it may be exported later: polled).
    const tree = [
      'POST /write [trace-a]',
      '  strata.transaction [trace-a]',
      '    strata.fence [trace-a]',
      '      strata.publish [trace-a]',
      '    COMMIT [trace-a]',
      '  redis EVALSHA set.lua [trace-a]',
    ].join('\n')
    await spansWhere((spans) => expect(renderTree(spans, write, [])).toBe(tree))
  })

  it("exports a read's span with the tier that answered, and its Redis and PostgreSQL children", async () => {
    const key = 'traced-read-missing'
    expect((await b.overSocket(`/read/${key}`)).status).toBe(404)
    const miss = await spansWhere((spans) =>
      one(
        spans,
        (s) => s.name === 'GET /read/{key}' && s.attributes['url.path'] === `/read/${key}`,
      ),
    )
    expect(miss).toMatchObject({ instance: 'trace-b', kind: 2 })
    expect(miss.attributes).toMatchObject({ 'strata.tier': 'DB', 'http.response.status_code': 404 })
    const { l2, query } = await spansWhere((spans) => ({
      l2: one(spans, (s) => s.name === 'redis GET' && childOf(miss)(s)),
      query: one(spans, (s) => s.name === 'SELECT records' && childOf(miss)(s)),
    }))
    expect(l2.attributes).toMatchObject({ 'db.system.name': 'redis', 'strata.key': key })
    expect(query.attributes).toMatchObject({ 'db.system.name': 'postgresql' })

    // The same read again is an L1 hit on the fast path: a span of its own, with no child.
    const again = await b.overSocket(`/read/${key}`)
    expect(again.headers.get('x-cache-level')).toBe('L1')
    const hit = await spansWhere((spans) =>
      one(spans, (s) => s.attributes['url.path'] === `/read/${key}` && s.spanId !== miss.spanId),
    )
    expect(hit.attributes).toMatchObject({ 'strata.tier': 'L1', 'http.response.status_code': 404 })
    expect(receiver.spans.filter(childOf(hit))).toEqual([])
  })
  it("joins the caller's trace when the request carries a traceparent", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const callerSpan = '00f067aa0ba902b7'
    const answer = await c.overSocket('/read/traced-caller', {
      headers: { traceparent: `00-${traceId}-${callerSpan}-01` },
    })
    expect(answer.status).toBe(404)
    const joined = await spansWhere((spans) =>
      one(spans, (s) => s.attributes['url.path'] === '/read/traced-caller'),
    )
    expect(joined).toMatchObject({ instance: 'trace-c', traceId, parentSpanId: callerSpan })
  })
})
