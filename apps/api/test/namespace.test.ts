import { createConnection } from 'node:net'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { read, startCluster } from './harness.js'

/**
 * Keys chosen to escape the namespace if user keys were ever concatenated, parsed or globbed
 * carelessly: path tricks, metadata names, the prefix itself, hash tags, glob patterns.
 */
const ADVERSARIAL_KEYS = [
  '../x',
  '../../strata:m:generation',
  'strata:m:generation',
  'strata:m:replicas',
  'strata:m:stats:replica-1',
  'strata:k:nested',
  ':m:generation',
  'm:generation',
  'strata:bus',
  '{slot}',
  '{strata:m:generation}',
  '*',
  '?',
  '[a-z]*',
  'canary',
  '%2e%2e%2fx',
  '\\x00',
  ' ',
  '☃:m:',
  's'.repeat(256),
]

const ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, '\\': 92, '"': 34 }

/** Undoes MONITOR's quoting of an argument (`\xe2\x98\x83` for ☃, `\\` for one backslash). */
function unescapeMonitor(text: string): string {
  const bytes: number[] = []
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string
    if (char !== '\\') {
      bytes.push(...Buffer.from(char, 'utf8'))
      continue
    }
    const next = text[i + 1] as string
    if (next === 'x') {
      bytes.push(Number.parseInt(text.slice(i + 2, i + 4), 16))
      i += 3
    } else {
      bytes.push(ESCAPES[next] ?? next.charCodeAt(0))
      i += 1
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** A command as MONITOR reports it: its arguments (still quoted) and where it came from. */
interface Monitored {
  args: string[]
  source: string
}

/**
 * Runs MONITOR on a raw socket, parsing each line as it comes. Not ioredis's `monitor()`: it
 * switches its connection to monitor mode only in a promise callback after MONITOR's `+OK`, so
 * when the first monitored command arrives in the same TCP read as that `+OK` (likely on a busy
 * Redis: every replica publishes a heartbeat every 15 ms), it is taken for the reply of a command
 * that was never sent ("Command queue state error"). It also left its parent connection open.
 */
async function monitorRedis(port: number, onCommand: (command: Monitored) => void) {
  const socket = createConnection({ host: '127.0.0.1', port })
  let buffered = ''
  let started: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    started = resolve
  })
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffered += chunk
    let end = buffered.indexOf('\r\n')
    while (end >= 0) {
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      end = buffered.indexOf('\r\n')
      if (line === '+OK') started()
      // +1796390002.441448 [0 127.0.0.1:33698] "publish" "strata:bus" "…"
      const match = /^\+[\d.]+ \[\d+ ([^\]]+)\] "(.*)"$/.exec(line)
      if (match) onCommand({ source: match[1] as string, args: (match[2] as string).split('" "') })
    }
  })
  socket.write('MONITOR\r\n')
  await ready
  return { stop: () => socket.destroy() }
}

/** Keys and channels a command names, from its arguments as MONITOR reports them. */
function touched(args: string[]): { keys: string[]; channels: string[] } {
  const [name = '', ...rest] = args
  switch (name.toLowerCase()) {
    case 'evalsha':
    case 'eval': {
      const count = Number(rest[1])
      return { keys: rest.slice(2, 2 + count), channels: [] }
    }
    case 'publish':
    case 'subscribe':
    case 'unsubscribe':
      return { keys: [], channels: rest.slice(0, name.toLowerCase() === 'publish' ? 1 : undefined) }
    case 'ping':
    case 'script':
    case 'info':
    case 'client':
    case 'auth':
    case 'select':
      return { keys: [], channels: [] }
    default:
      return { keys: rest.slice(0, 1), channels: [] }
  }
}

const {
  servers,
  replicas: [a, b],
} = await startCluster({}, {})
const admin = new Redis(servers.redis.url)
afterAll(() => admin.disconnect())

/**
 * Every key outside `strata:k:` (entries) and `strata:l:` (their fill leases), with its value:
 * what no user key may ever change.
 */
async function outsideUserSpace(): Promise<Record<string, string>> {
  const snapshot: Record<string, string> = {}
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      if (key.startsWith('strata:k:') || key.startsWith('strata:l:')) continue
      const type = await admin.type(key)
      snapshot[key] =
        type === 'string'
          ? `${await admin.get(key)}`
          : JSON.stringify(await admin.zrange(key, 0, -1, 'WITHSCORES'))
    }
  } while (cursor !== '0')
  return snapshot
}

describe('user keys stay inside the namespace', () => {
  it('maps every user key to exactly strata:k:<key> (and its fill lease strata:l:<key>), and no request reads or changes anything else', async () => {
    // Decoys outside the user space: metadata, and the raw names of the adversarial keys.
    await admin.set('strata:m:stats:replica-1', 'decoy stats')
    await admin.zadd('strata:m:replicas', 1, 'replica-1')
    await admin.incr('strata:m:generation')
    for (const key of ADVERSARIAL_KEYS) await admin.set(key, `decoy ${key}`, 'NX')
    const before = await outsideUserSpace()

    const commands: Monitored[] = []
    const monitor = await monitorRedis(servers.redis.port, ({ args, source }) => {
      commands.push({ args: args.map(unescapeMonitor), source })
    })
    try {
      for (const key of ADVERSARIAL_KEYS) {
        // A miss first (negative caching in L2), then a write, reads through every tier, a delete.
        expect((await read(a, key)).status, key).toBe(404)
        const written = await a.request('/write', { json: { key, value: `value of ${key}` } })
        expect(written.status, key).toBe(200)
        const first = await read(a, key)
        expect(first.body, key).toMatchObject({ key, value: `value of ${key}` })
        expect((await read(b, key)).level, key).toBe('L2')
        const deleted = await a.request('/delete', { json: { key } })
        expect(deleted.status, key).toBe(200)
      }
      // Control characters are refused before anything reaches Redis.
      for (const key of ['a\nb', 'a\r\nGET x', 'x\u0000']) {
        const refused = await a.request('/write', { json: { key, value: 'v' } })
        expect(refused.status, JSON.stringify(key)).toBe(400)
      }
      // MONITOR reports commands in the order Redis ran them: once this one shows, all earlier ones have.
      await admin.echo('namespace-test-done')
      await expect
        .poll(() => commands.some((c) => c.args.includes('namespace-test-done')), {
          timeout: 5_000,
        })
        .toBe(true)
    } finally {
      monitor.stop()
    }

    const apiCommands = commands.filter((c) => !c.args.includes('namespace-test-done'))
    const expectedKeys = new Set(ADVERSARIAL_KEYS.map((key) => `strata:k:${key}`))
    // A key's fill lease: its own name beside the entry's (the fill-lease script, and inside it).
    const leaseKeys = new Set(ADVERSARIAL_KEYS.map((key) => `strata:l:${key}`))
    const strays: string[] = []
    const seen = new Set<string>()
    for (const { args, source } of apiCommands) {
      const { keys, channels } = touched(args)
      for (const key of keys) {
        seen.add(key)
        // The API syncs the L2 generation (a metadata key it names itself, read and repaired by a
        // script after every resubscribe); nothing else outside the user space.
        const allowed =
          expectedKeys.has(key) ||
          leaseKeys.has(key) ||
          (key === 'strata:m:generation' &&
            ['get', 'evalsha', 'eval'].includes(args[0]?.toLowerCase() ?? ''))
        if (!allowed) strays.push(`${source}: ${args.slice(0, 4).join(' ')}`)
      }
      for (const channel of channels) {
        if (channel !== 'strata:bus') strays.push(`${source}: ${args.slice(0, 2).join(' ')}`)
      }
    }
    expect(strays).toEqual([])
    // The scenario did reach Redis for every key, including inside the Lua scripts.
    for (const key of expectedKeys) expect(seen.has(key), key).toBe(true)
    expect(apiCommands.some((c) => c.source.includes('lua'))).toBe(true)

    expect(await outsideUserSpace()).toEqual(before)
  })
})
