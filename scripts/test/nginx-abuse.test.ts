import { readdirSync, readlinkSync, statSync } from 'node:fs'
import { createConnection, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { NGINX_DEFAULTS } from '@strata/stack/config'
import { residentBytes, withChildren } from '@strata/stack/processes'
import { eventually } from '@strata/stack/testing'
import { describe, expect, it } from 'vitest'
import { useNginxFixture } from './nginx-fixture.js'

const MiB = 1024 * 1024
/** The largest body /write accepts: 1088 KiB (a 1 MiB value plus its JSON envelope). */
const MAX_BODY = 1088 * 1024
/** Attackers' connections, as in the measurement of issue 12 (24 → 343 MiB of nginx). */
const ATTACKERS = 300
/**
 * How much nginx may grow while 300 nearly complete bodies stall. What nginx may keep per
 * connection: 16 KiB of body buffer, at most 1 + 4 × 8 KiB of header buffers, a few KiB of request
 * pool and connection: under 64 KiB, so 300 connections are under 19 MiB. 48 MiB leaves room for a
 * loaded machine's allocator and still fails by far when bodies are held whole (about 1 MiB each).
 */
const GROWTH_BOUND = 48 * MiB

/**
 * nginx under the attacks of issue 12, with the production defaults of every limit (rate limits
 * on): slow bodies, too many requests from one address, costly GETs in a loop. nginx runs from
 * the real configuration in front of a stand-in replica; as in CI, its data directory is private
 * (mode 700), so when this runs as root nginx's workers cannot enter it.
 */
describe('nginx stays bounded under abuse', () => {
  const nginx = useNginxFixture({
    upstream: (req, res) => {
      let bytes = 0
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length
      })
      req.on('end', () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes })),
      )
    },
    // The stalled bodies must outlive the measurement (the default is 10 s between two reads).
    nginx: { ...NGINX_DEFAULTS, clientBodyTimeout: 120 },
    privateDataDir: true,
  })

  it('spools a large accepted body to disk, where its workers can write even as root', async () => {
    const body = 'x'.repeat(MAX_BODY)
    const response = await fetch(`${nginx().url}/write`, { method: 'POST', body })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ bytes: MAX_BODY })
  })

  it('limits GET /health, /cache-stats and /metrics per address with a JSON 429 and Retry-After, and never reads', async () => {
    const total = 3 * NGINX_DEFAULTS.opsBurst
    const paths = ['/health', '/cache-stats', '/metrics']
    const started = performance.now()
    const answers = await Promise.all(
      Array.from({ length: total }, (_, i) => fetch(`${nginx().url}${paths[i % 3]}`)),
    )
    const elapsedS = (performance.now() - started) / 1000
    const reads = await Promise.all(
      Array.from({ length: total }, () => fetch(`${nginx().url}/read/k`)),
    )
    const accepted = answers.filter((r) => r.status === 200).length
    const limited = answers.filter((r) => r.status === 429)
    expect(accepted + limited.length).toBe(total)
    // One budget for the three: the burst, the one the rate allows at once, what it added since.
    expect(accepted).toBeLessThanOrEqual(
      NGINX_DEFAULTS.opsBurst + 1 + Math.ceil(elapsedS * NGINX_DEFAULTS.opsRate),
    )
    expect(limited.length).toBeGreaterThan(0)
    const refused = limited[0] as Response
    expect(refused.headers.get('content-type')).toBe('application/json')
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(await refused.json()).toMatchObject({ success: false, error: { code: 'RATE_LIMITED' } })
    expect(reads.map((r) => r.status)).toEqual(reads.map(() => 200))
  })

  it('refuses 300 nearly complete 1 MiB bodies on POST /health with a JSON 413, and does not grow', async () => {
    const pids = withChildren([nginx().pid])
    const before = residentBytes(pids)
    const attack = await stallBodies(nginx().port, '/health', ATTACKERS, pids)
    try {
      // All refused as soon as their header was read, none reaches the replica.
      await attack.settled((answered) => answered === ATTACKERS)
      expect(attack.statuses()).toEqual(Array.from({ length: ATTACKERS }, () => 413))
      expect(attack.jsonCodes()).toEqual(new Set(['PAYLOAD_TOO_LARGE']))
      const growth = Math.max(attack.peakRss(), residentBytes(pids)) - before
      expect(growth, `nginx grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(GROWTH_BOUND)
      expect(nginx().seen.filter((line) => line.startsWith('POST /health'))).toEqual([])
    } finally {
      attack.destroy()
    }
  })

  it('holds 300 stalled 1 MiB bodies on POST /write in 16 KiB each, the rest on disk, and refuses those over the connection limit', async () => {
    const pids = withChildren([nginx().pid])
    const before = residentBytes(pids)
    const attack = await stallBodies(nginx().port, '/write', ATTACKERS, pids)
    try {
      // Done when every connection was either refused, or had its body read by nginx: into memory
      // (at most 16 KiB) and a temp file (the rest).
      const spoolAtLeast = MAX_BODY - 1 - 16 * 1024
      await attack.settled(
        (answered) =>
          spooledBodies(nginx().bodyTempDir, pids, spoolAtLeast) === ATTACKERS - answered,
      )
      const held = ATTACKERS - attack.answered()
      expect(held).toBeGreaterThan(0)
      expect(held).toBeLessThanOrEqual(NGINX_DEFAULTS.connLimit)
      expect(spooledBodies(nginx().bodyTempDir, pids, spoolAtLeast)).toBe(held)
      // The refused ones: the connection limit (429), JSON with Retry-After.
      expect(new Set(attack.statuses())).toEqual(new Set([429]))
      expect(attack.jsonCodes()).toEqual(new Set(['RATE_LIMITED']))
      expect(attack.retryAfters()).toEqual(new Set(['1']))
      const growth = Math.max(attack.peakRss(), residentBytes(pids)) - before
      expect(growth, `nginx grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(GROWTH_BOUND)

      // While this address holds its limit of requests in progress, even its reads wait their
      // turn (429); nothing of the attack reached the replica (nginx forwards whole bodies only).
      const read = await fetch(`${nginx().url}/read/k`)
      expect(read.status).toBe(429)
      expect(read.headers.get('retry-after')).toBe('1')
      expect(await read.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } })
      expect(nginx().seen.filter((line) => line === 'POST /write')).toHaveLength(1)
    } finally {
      attack.destroy()
    }
    // Their connections gone, the address is served again.
    await eventually('a read to be served again', 30_000, async () =>
      (await fetch(`${nginx().url}/read/k`)).status === 200 ? true : undefined,
    )
  })
})

/** Connections that each sent a request with all but one byte of its body, then stalled. */
interface StalledBodies {
  /** Connections nginx answered (it refused them). */
  answered(): number
  /** Status codes of those answers. */
  statuses(): number[]
  /** The `error.code` of every answer's JSON body. */
  jsonCodes(): Set<string>
  /** The Retry-After values of the answers. */
  retryAfters(): Set<string | undefined>
  /** The largest resident size of nginx seen while {@link settled} waited. */
  peakRss(): number
  /**
   * Polls until `done(answered)` holds, sampling nginx's resident size on the way; fails after
   * 60 s.
   */
  settled(done: (answered: number) => boolean): Promise<void>
  destroy(): void
}

/**
 * Opens `count` connections to `path` at once, each sending the header of a 1088 KiB body and all
 * of the body but its last byte; resolves once every byte is handed to the kernel (or nginx has
 * closed the connection). `pids` are nginx's processes, sampled by `settled`.
 */
async function stallBodies(
  port: number,
  path: string,
  count: number,
  pids: readonly number[],
): Promise<StalledBodies> {
  const head =
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${MAX_BODY}\r\n\r\n`
  const body = Buffer.alloc(MAX_BODY - 1, 'x')
  const sockets: Socket[] = []
  const answers: string[] = []
  let peak = 0
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve) => {
          const socket = createConnection({ host: '127.0.0.1', port })
          sockets.push(socket)
          answers[i] = ''
          socket.on('data', (chunk) => {
            answers[i] += chunk.toString()
          })
          // nginx may close a refused connection while the rest of its body is still on the way.
          socket.on('error', () => resolve())
          socket.on('close', () => resolve())
          socket.write(head)
          socket.write(body, () => resolve())
        }),
    ),
  )

  // An answer is complete with its JSON body (nginx's error bodies are one JSON object).
  const complete = () => answers.filter((text) => /\r\n\r\n\{[\s\S]*\}$/.test(text))
  const json = (text: string) =>
    JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string } }
  return {
    answered: () => complete().length,
    statuses: () => complete().map((text) => Number(text.split(' ')[1])),
    jsonCodes: () => new Set(complete().map((text) => json(text).error.code)),
    retryAfters: () => new Set(complete().map((text) => /\r\nRetry-After: (\S+)/i.exec(text)?.[1])),
    peakRss: () => peak,
    async settled(done) {
      await eventually('the attack to settle', 60_000, async () => {
        peak = Math.max(peak, residentBytes(pids))
        return done(complete().length) ? true : undefined
      })
    },
    destroy: () => {
      for (const socket of sockets) socket.destroy()
    },
  }
}

/**
 * How many request bodies nginx's processes hold in temp files of at least `atLeast` bytes.
 * nginx unlinks a body's temp file as soon as it opens it, so the files are found through the
 * processes' open descriptors, each a link to `<dir>/<number> (deleted)`.
 */
function spooledBodies(tempDir: string, pids: readonly number[], atLeast: number): number {
  let count = 0
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (!readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${tempDir}/`)) continue
        if (statSync(`/proc/${pid}/fd/${fd}`).size >= atLeast) count++
      } catch {
        // Closed since listed.
      }
    }
  }
  return count
}
