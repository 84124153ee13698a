/**
 * Does compressing L2 values pay? For values of 4 KiB, 64 KiB and 1 MiB, JSON-like text and
 * random text (base64 of random bytes: about as incompressible as a string value gets), this
 * measures with node:zlib at fast levels:
 *  - CPU to compress (once per L2 fill) and to decompress (every L2 hit), µs, sync and async
 *    (async moves the work to libuv's pool: the process's CPU is what counts on a busy replica);
 *  - the bytes saved, and what moving those bytes costs: a Redis GET of the raw value against
 *    one of the compressed size, CPU µs of the client (the replica) and of redis-server.
 * Compression pays at a size when decompressing costs less than the GET of the bytes it saves.
 *
 * Usage: pnpm --filter @strata/cache-core bench:compression  (BENCH_ROUNDS=N, default 5)
 */
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { startRedisServer } from '@strata/test-servers'
import { Redis } from 'ioredis'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SIZES = [4096, 65_536, 1_048_576]

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

/** A JSON document of about `bytes` bytes: records with repeated field names and varied values. */
function jsonValue(bytes: number): string {
  const items: unknown[] = []
  let i = 0
  while (JSON.stringify(items).length < bytes) {
    items.push({
      id: 100_000 + i * 37,
      sku: `SKU-${(i * 7919) % 100_000}`,
      name: `Item ${i} ${['red', 'blue', 'green', 'large', 'small'][i % 5]}`,
      price: Math.round(((i * 1103) % 10_000) * 1.07) / 100,
      tags: ['stock', i % 3 ? 'sale' : 'new'],
      updatedAt: new Date(1_700_000_000_000 + i * 61_000).toISOString(),
    })
    i++
  }
  return JSON.stringify(items).slice(0, bytes)
}

const randomValue = (bytes: number) => randomBytes(bytes).toString('base64').slice(0, bytes)

interface Codec {
  name: string
  compress: (input: Buffer) => Buffer
  decompress: (input: Buffer) => Buffer
  compressAsync?: (input: Buffer) => Promise<Buffer>
  decompressAsync?: (input: Buffer) => Promise<Buffer>
}

const fast = { level: 1 }
const brotliFast = (quality: number) => ({
  params: { [zlib.constants.BROTLI_PARAM_QUALITY]: quality },
})
const CODECS: Codec[] = [
  {
    name: 'deflateRaw level 1',
    compress: (b) => zlib.deflateRawSync(b, fast),
    decompress: (b) => zlib.inflateRawSync(b),
    compressAsync: (b) => promisify(zlib.deflateRaw)(b, fast),
    decompressAsync: (b) => promisify(zlib.inflateRaw)(b),
  },
  {
    name: 'gzip level 1',
    compress: (b) => zlib.gzipSync(b, fast),
    decompress: (b) => zlib.gunzipSync(b),
  },
  {
    name: 'brotli quality 1',
    compress: (b) => zlib.brotliCompressSync(b, brotliFast(1)),
    decompress: (b) => zlib.brotliDecompressSync(b),
  },
  {
    name: 'brotli quality 4',
    compress: (b) => zlib.brotliCompressSync(b, brotliFast(4)),
    decompress: (b) => zlib.brotliDecompressSync(b),
  },
]

/** Process CPU µs per call of `op` (user + system, every thread: libuv's pool included). */
async function cpuPerCall(op: () => unknown, bytes: number): Promise<number> {
  // Enough calls for ~20 MB of input, at least 20.
  const calls = Math.max(20, Math.ceil(20_000_000 / bytes))
  for (let i = 0; i < 3; i++) await op()
  const before = process.cpuUsage()
  for (let i = 0; i < calls; i++) await op()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / calls
}

/** redis-server's CPU time so far, µs (INFO cpu). */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1e6
}

/** Client and server CPU µs per GET of a value of `bytes` (a Buffer, as a compressed one would be). */
async function getCost(redis: Redis, bytes: number): Promise<{ client: number; server: number }> {
  const key = `bench:compression:${bytes}`
  await redis.set(key, randomBytes(bytes))
  const calls = Math.max(200, Math.ceil(200_000_000 / Math.max(bytes, 1024) / 10))
  for (let i = 0; i < 20; i++) await redis.getBuffer(key)
  const serverBefore = await redisCpu(redis)
  const before = process.cpuUsage()
  for (let i = 0; i < calls; i++) await redis.getBuffer(key)
  const used = process.cpuUsage(before)
  const server = (await redisCpu(redis)) - serverBefore
  return { client: (used.user + used.system) / calls, server: server / calls }
}

interface Row {
  data: string
  size: number
  codec: string
  ratio: number
  compress_us: number
  decompress_us: number
  compress_async_us?: number
  decompress_async_us?: number
  saved_bytes: number
  /** CPU a GET of the raw value costs beyond one of the compressed size: client + Redis, µs. */
  get_saved_us: number
}

async function main(): Promise<void> {
  const server = await startRedisServer()
  const redis = new Redis(server.url)
  const rows: Row[] = []
  try {
    const getCosts = new Map<number, number[]>()
    const measureGet = async (bytes: number) => {
      const bucket = Math.max(64, Math.round(bytes / 64) * 64)
      const cached = getCosts.get(bucket)
      if (cached && cached.length >= ROUNDS) return median(cached)
      const samples: number[] = []
      for (let r = 0; r < ROUNDS; r++) {
        const cost = await getCost(redis, bucket)
        samples.push(cost.client + cost.server)
      }
      getCosts.set(bucket, samples)
      return median(samples)
    }
    for (const size of SIZES) {
      for (const [data, make] of [
        ['JSON', jsonValue],
        ['random', randomValue],
      ] as const) {
        const input = Buffer.from(make(size))
        const rawGet = await measureGet(size)
        for (const codec of CODECS) {
          const packed = codec.compress(input)
          if (!codec.decompress(packed).equals(input)) throw new Error(`${codec.name}: round trip`)
          const samples = {
            c: [] as number[],
            d: [] as number[],
            ca: [] as number[],
            da: [] as number[],
          }
          for (let r = 0; r < ROUNDS; r++) {
            samples.c.push(await cpuPerCall(() => codec.compress(input), size))
            samples.d.push(await cpuPerCall(() => codec.decompress(packed), size))
            const { compressAsync, decompressAsync } = codec
            if (compressAsync) samples.ca.push(await cpuPerCall(() => compressAsync(input), size))
            if (decompressAsync)
              samples.da.push(await cpuPerCall(() => decompressAsync(packed), size))
          }
          const round1 = (x: number) => Math.round(x * 10) / 10
          rows.push({
            data,
            size,
            codec: codec.name,
            ratio: Math.round((packed.length / size) * 1000) / 1000,
            compress_us: round1(median(samples.c)),
            decompress_us: round1(median(samples.d)),
            ...(samples.ca.length ? { compress_async_us: round1(median(samples.ca)) } : {}),
            ...(samples.da.length ? { decompress_async_us: round1(median(samples.da)) } : {}),
            saved_bytes: size - packed.length,
            get_saved_us: round1(rawGet - (await measureGet(packed.length))),
          })
          const last = rows.at(-1) as Row
          console.error(
            `${data} ${size} B ${codec.name}: ${last.ratio}× size, compress ${last.compress_us} µs, decompress ${last.decompress_us} µs, a GET of the saved bytes ${last.get_saved_us} µs`,
          )
        }
      }
    }
  } finally {
    redis.disconnect()
    await server.stop()
  }
  const header =
    '| data | size | codec | compressed/raw | compress µs | decompress µs | async compress µs | async decompress µs | GET CPU saved µs |'
  console.log([header, `|${'---|'.repeat(9)}`].join('\n'))
  for (const r of rows)
    console.log(
      `| ${r.data} | ${r.size} | ${r.codec} | ${r.ratio} | ${r.compress_us} | ${r.decompress_us} | ${r.compress_async_us ?? '–'} | ${r.decompress_async_us ?? '–'} | ${r.get_saved_us} |`,
    )
}

await main()
