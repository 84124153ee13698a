import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One span as a test reads it, flattened from an OTLP/HTTP JSON export. */
export interface ReceivedSpan {
  /** The `service.instance.id` of the process that sent it: the replica id. */
  instance: string
  service: string
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  attributes: Record<string, unknown>
  links: { traceId: string; spanId: string }[]
}

interface OtlpAttribute {
  key: string
  value: Record<string, unknown>
}

interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] }
    scopeSpans?: {
      spans?: (Omit<ReceivedSpan, 'attributes' | 'instance' | 'service'> & {
        attributes?: OtlpAttribute[]
      })[]
    }[]
  }[]
}

/** An OTLP attribute list as a plain object (`{ stringValue: 'x' }` becomes `'x'`). */
function attributesOf(list: OtlpAttribute[] | undefined): Record<string, unknown> {
  const attributes: Record<string, unknown> = {}
  for (const { key, value } of list ?? []) {
    const [kind, raw] = Object.entries(value)[0] ?? []
    attributes[key] = kind === 'intValue' ? Number(raw) : raw
  }
  return attributes
}

/** An in-process OTLP/HTTP receiver (JSON, `POST /v1/traces`) that keeps every span it gets. */
export async function startOtlpReceiver(): Promise<{
  url: string
  spans: ReceivedSpan[]
  close(): Promise<void>
}> {
  const spans: ReceivedSpan[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end()
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = attributesOf(resourceSpans.resource?.attributes)
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              instance: String(resource['service.instance.id']),
              service: String(resource['service.name']),
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes as unknown as OtlpAttribute[]),
              links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId })),
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** The spans under `root` as an indented tree, one `name {attributes}` a line. */
export function renderTree(
  spans: readonly ReceivedSpan[],
  root: ReceivedSpan,
  shown: readonly string[],
  depth = 0,
): string {
  const attributes = shown
    .filter((name) => root.attributes[name] !== undefined)
    .map((name) => `${name}=${JSON.stringify(root.attributes[name])}`)
  const line = `${'  '.repeat(depth)}${root.name} [${root.instance}]${attributes.length ? ` ${attributes.join(' ')}` : ''}`
  const children = spans.filter(
    (span) => span.traceId === root.traceId && span.parentSpanId === root.spanId,
  )
  return [line, ...children.map((child) => renderTree(spans, child, shown, depth + 1))].join('\n')
}
