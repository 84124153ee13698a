import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { type Env, parseEnv } from '../env.js'
import { createLogger } from '../logger.js'
import { SHUTDOWN_EXPORT_MS, startTracing, tracesUrl } from './tracing.js'

/** A logger whose lines (JSON) land in `lines`. */
function capture(lines: string[]) {
  return createLogger(env({ LOG_LEVEL: 'warn', NODE_ENV: 'production' }), {
    write: (line: string) => lines.push(line),
  })
}

function env(source: Record<string, string>): Env {
  const parsed = parseEnv(source)
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
  return parsed.env
}

describe('tracing configuration', () => {
  it('is off without an OTLP endpoint: nothing to wrap or call', () => {
    expect(startTracing(env({}), capture([]))).toBeUndefined()
    expect(env({}).OTEL_SERVICE_NAME).toBe('strata-api')
  })

  it('sends to <endpoint>/v1/traces, or to the traces endpoint as given', () => {
    expect(tracesUrl(env({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }))).toBe(
      'http://collector:4318/v1/traces',
    )
    const both = env({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:4318/traces',
    })
    expect(tracesUrl(both)).toBe('http://other:4318/traces')
  })

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }).ok).toBe(false)
  })

  it('stops within its bound when the collector never answers', async () => {
    // A collector that takes the connection and the spans, and never answers.
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = silent.address() as AddressInfo
      const endpoint = `http://127.0.0.1:${port}`
      const tracing = startTracing(env({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), capture([]))
      if (!tracing) throw new Error('tracing should be on')
      tracing.tracer.startSpan('unexported').end()
      const startedAt = performance.now()
      await tracing.shutdown()
      const took = performance.now() - startedAt
      // The exporter's own timeout is 10 s: without the bound, shutdown would wait for it.
      expect(took).toBeGreaterThanOrEqual(SHUTDOWN_EXPORT_MS - 50)
      expect(took).toBeLessThan(SHUTDOWN_EXPORT_MS + 5_000)
    } finally {
      silent.closeAllConnections()
      silent.close()
    }
  })

  it('says so in the log when the collector refuses the spans', async () => {
    const refusing = createServer((req, res) => {
      req.resume()
      req.on('end', () => res.writeHead(400).end())
    })
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve))
    const lines: string[] = []
    try {
      const { port } = refusing.address() as AddressInfo
      const endpoint = `http://127.0.0.1:${port}`
      const tracing = startTracing(env({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }), capture(lines))
      if (!tracing) throw new Error('tracing should be on')
      tracing.tracer.startSpan('refused').end()
      // The flush rejects with the collector's refusal; the log line is what an operator sees.
      await expect(tracing.flush()).rejects.toBeDefined()
      await tracing.shutdown()
    } finally {
      refusing.close()
    }
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 40,
      msg: 'traces not exported: the OTLP endpoint failed (spans dropped)',
      failed_batches: 1,
    })
  })
})
