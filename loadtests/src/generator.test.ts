import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { runLoad } from './generator.js'
import { loadOptions } from './load-options.js'
import { defineScenario, type Operation } from './scenario.js'

let server: Server | undefined
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = undefined
})

type Handler = (request: IncomingMessage, response: ServerResponse) => void

/** Answers reads as L1 hits and writes with 200, unless `handler` takes the request. */
async function target(handler?: Handler): Promise<URL> {
  server = createServer((request, response) => {
    request.resume()
    if (handler) return handler(request, response)
    response.setHeader('x-cache-level', 'L1')
    response.setHeader('content-type', 'application/json')
    response.end('{"success":true}')
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('no address')
  return new URL(`http://127.0.0.1:${address.port}`)
}

/** Every fourth operation of a user writes. */
const scenario = defineScenario({
  name: 'test',
  description: 'test',
  dataset: { prefix: 'gen:', keys: 10, valueBytes: 10 },
  prime: false,
  thresholds: [],
  createUser: ({ vu }) => {
    let n = 0
    return (): Operation =>
      n++ % 4 === 3
        ? { kind: 'write', key: `gen:${vu}`, value: 'v' }
        : { kind: 'read', key: `gen:${n % 10}` }
  },
})

describe('runLoad', () => {
  it('closed loop: stops at maxRequests, records reads, writes and the written keys', async () => {
    const url = await target()
    const written = new Set<string>()
    const result = await runLoad(
      loadOptions({
        target: url,
        scenario,
        vus: 2,
        warmupMs: 0,
        durationMs: 30_000,
        maxRequests: 40,
        written,
      }),
    )
    const m = result.measure
    expect(m.requests).toBe(40)
    expect(m.reads + m.writes).toBe(40)
    expect(m.writes).toBe(10)
    expect(m.levels.L1).toBe(30)
    expect(m.errors).toBe(0)
    expect([...written].sort()).toEqual(['gen:0', 'gen:1'])
    expect(result.warmup.requests).toBe(0)
    expect(result.aborted).toBe(false)
  })

  it('open loop: drops the requests that find every connection busy, in the phase they were due', async () => {
    // The target never answers until the test lets it: the one connection stays busy.
    const held: ServerResponse[] = []
    const url = await target((_, response) => held.push(response))
    let measureStarted = 0
    const result = await runLoad(
      loadOptions({
        target: url,
        scenario,
        vus: 1,
        rate: 200,
        warmupMs: 300,
        durationMs: 600,
        // The held request fails after this; the run ends once it has.
        requestTimeoutMs: 1_500,
        onMeasureStart: () => measureStarted++,
      }),
    )
    expect(measureStarted).toBe(1)
    // The first request went out in the warm-up and timed out; no other found an idle connection.
    expect(result.warmup.requests).toBe(1)
    expect(result.warmup.errorsByKind.get('network_timeout')).toBe(1)
    expect(result.measure.requests).toBe(0)
    // 200/s over 0.9 s is ~180 due; generous margins for a loaded machine.
    expect(result.warmup.dropped).toBeGreaterThan(20)
    expect(result.measure.dropped).toBeGreaterThan(40)
    for (const response of held) response.destroy()
  }, 30_000)

  it('stops every user when aborted and marks the run', async () => {
    const url = await target()
    const controller = new AbortController()
    let ticks = 0
    const run = runLoad(
      loadOptions({
        target: url,
        scenario,
        vus: 4,
        warmupMs: 0,
        durationMs: 60_000,
        signal: controller.signal,
        onTick: () => {
          ticks++
          controller.abort()
        },
      }),
    )
    const result = await run
    expect(ticks).toBe(1)
    expect(result.aborted).toBe(true)
    expect(result.measure.requests).toBeGreaterThan(0)
    expect(result.measure.errors).toBe(0)
  }, 30_000)
})
