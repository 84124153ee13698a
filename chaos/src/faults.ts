import { setTimeout as sleep } from 'node:timers/promises'
import type { WriteOutcome } from '@strata/testkit'
import type { Redis } from 'ioredis'
import { subscriberOf } from './redis-clients.js'
import { type ChaosStack, type Link, REPLICAS } from './stack.js'

/** The faults `pnpm chaos` knows, in the order it runs them. */
export const FAULT_NAMES = [
  'redis-kill',
  'redis-freeze',
  'subscriber-kill',
  'replica-kill',
  'postgres-restart',
  'redis-latency',
  'redis-partition',
  'postgres-latency',
  'postgres-freeze',
  'commit-reply-lost',
  'replica-pause',
  'compound',
] as const

export type FaultName = (typeof FAULT_NAMES)[number]

/** How long after an injection (or a fault's end) a write may still end `unknown` (see `unknownOnlyInFlight`). */
export const UNKNOWN_GRACE_MS = 1_000

/** What a fault is given to act on. */
export interface FaultContext {
  stack: ChaosStack
  /** A client on Redis itself (never through a proxy), for admin commands. */
  redis: Redis
  /** How long a fault that is undone is held, in milliseconds. */
  holdMs: number
  /** The delay `redis-latency` adds to each direction of every replica's Redis link, in ms. */
  latencyMs: number
  /** The recorder's clock, so fault times and operations share one scale. */
  now(): number
  /** Reports a step of the fault (shown in the progress output and kept in the results). */
  note(message: string): void
  signal: AbortSignal
}

/** When a fault began and ended, on the recorder's clock. */
export interface FaultWindow {
  /** Just before the fault was injected. */
  injectedAt: number
  /** When the injection had taken effect (a killed process gone, a signal sent). */
  injectionDoneAt: number
  /** When the fault was over: undone (the process back and ready, SIGCONT sent, delay removed), or healed by the system itself. */
  endedAt: number
}

/** What the guarantees promise while a fault is on; anything else fails the run. */
export interface FaultExpectations {
  /**
   * Which reads may fail through nginx: `none`, or `uncached` — only reads of keys written during
   * the run, which may not be cached when PostgreSQL goes away (read-only keys always are).
   */
  failedReads: 'none' | 'uncached'
  /** The write outcomes allowed. */
  writes: readonly WriteOutcome[]
  /**
   * When `unknown` is allowed, if not at any time:
   * - `injection`: only for writes in flight at the moment of injection (a killed replica's), or
   *   begun within {@link UNKNOWN_GRACE_MS} of it: nginx may still send a POST on a keep-alive
   *   connection to the dead replica before it has seen that connection close, and a POST it has
   *   sent is never retried elsewhere.
   * - `fault`: only for writes in flight at some moment while the fault was on, or begun within
   *   {@link UNKNOWN_GRACE_MS} of its end: a fault that can lose a COMMIT's reply at any moment
   *   it is on (a frozen or cut database link) leaves those in doubt, and no other.
   */
  unknownOnlyInFlight?: 'injection' | 'fault'
  /**
   * The most the median read may take while the fault is on, in milliseconds: calls must fail
   * fast instead of each waiting for a timeout.
   */
  medianReadMs?: number
}

/**
 * A second load, on top of the mixed one, on one written key: read on one replica and written on
 * others, each sent to its replica directly (not through nginx), so that the reads land where
 * the fault is and race the writes that other replicas acknowledge.
 */
export interface HotKeyLoad {
  /** The replica that reads the key. */
  reader: number
  /** The replicas that write it, in turn. */
  writers: readonly number[]
  /** Requests per second, reads and writes together. */
  rate: number
  /** Share of them that are writes, 0–1. */
  writeShare: number
}

/** One fault: how to inject it and what must hold meanwhile. */
export interface Fault {
  name: FaultName
  /** One line for the results table. */
  title: string
  /** The replicas' links that need a TCP proxy (one per replica); empty for none. */
  proxies: readonly Link[]
  /** See `ChaosStackOptions.postgresUrlParams`; applied to the proxied PostgreSQL links. */
  postgresUrlParams?: Readonly<Record<string, string>>
  /** A hot key to race reads on one replica against writes on the others, if the fault needs it. */
  hotKey?: HotKeyLoad
  expect: FaultExpectations
  run(context: FaultContext): Promise<FaultWindow>
}

/** Replica the single-replica faults hit. */
const TARGET_REPLICA = 2

/** Polls `check` every 20 ms until it returns true; fails after `timeoutMs`, naming `what`. */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await sleep(20)
  }
}

/** A replica's view of its tiers, from `/health`. */
async function tiersOf(url: string): Promise<{ bus?: string; l1?: string } | undefined> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })
    const body = (await response.json()) as { checks?: { bus?: string; l1?: string } }
    return body.checks
  } catch {
    return undefined
  }
}

/** Holds a fault for `ms` (the fault's own timing, not a wait for a race); ends early on abort. */
const hold = (context: FaultContext, ms: number) =>
  sleep(Math.max(0, ms), undefined, { signal: context.signal }).catch(() => {})

/** Waits until every replica's bus is up and its L1 serves again. */
async function untilAllServing(context: FaultContext, what: string): Promise<void> {
  const urls = Array.from({ length: REPLICAS }, (_, i) => context.stack.replicaUrl(i + 1))
  await waitUntil(what, 30_000, async () => {
    const tiers = await Promise.all(urls.map(tiersOf))
    return tiers.every((tier) => tier?.bus === 'up' && tier.l1 === 'serving')
  })
}

/** `promise`, or an error naming `what` after `timeoutMs`. */
async function within<T>(what: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** A fault that is injected, held, then undone. */
interface HeldFaultSpec extends Omit<Fault, 'run'> {
  /**
   * How long it is held, ms, when the fault fixes it (`replica-pause`: 1.5 s) rather than taking
   * `--hold`.
   */
  holdMs?: number
  inject(context: FaultContext): Promise<string> | string
  undo(context: FaultContext): Promise<string> | string
}

/** Builds a held fault: each step's returned text becomes a note. */
function heldFault(spec: HeldFaultSpec): Fault {
  const { inject, undo, holdMs, ...fault } = spec
  return {
    ...fault,
    async run(context) {
      const injectedAt = context.now()
      const injected = await inject(context)
      const injectionDoneAt = context.now()
      context.note(injected)
      await hold(context, holdMs ?? context.holdMs)
      context.note(await undo(context))
      return { injectedAt, injectionDoneAt, endedAt: context.now() }
    },
  }
}

/** The steps of a held fault that freezes `what` with SIGSTOP and thaws it with SIGCONT. */
function frozen(
  what: string,
  pause: (cluster: ChaosStack['cluster']) => void,
  resume: (cluster: ChaosStack['cluster']) => void,
): Pick<HeldFaultSpec, 'inject' | 'undo'> {
  return {
    inject: ({ stack }) => {
      pause(stack.cluster)
      return `${what} frozen (SIGSTOP)`
    },
    undo: ({ stack }) => {
      resume(stack.cluster)
      return `${what} thawed (SIGCONT)`
    },
  }
}

/** The proxy on replica `index`'s `link`. */
function proxyOf(context: FaultContext, link: Link, index: number) {
  const proxy = context.stack.proxies[link][index - 1]
  if (!proxy)
    throw new Error(
      `replica-${index} has no ${link} proxy; the fault must list '${link}' in proxies`,
    )
  return proxy
}

const target = `replica-${TARGET_REPLICA}`

/** What `postgres-latency` adds to the replies on the target's PostgreSQL link, ms. */
export const POSTGRES_LATENCY_MS = 300
/**
 * What `postgres-latency` adds to the writers' queries on their PostgreSQL links, ms: the gap
 * between a write's invalidation and its COMMIT reaching PostgreSQL (see the fault).
 */
export const WRITER_QUERY_DELAY_MS = 25
/** How long `postgres-freeze` keeps PostgreSQL stopped, ms. */
export const POSTGRES_FREEZE_MS = 2_000
/**
 * The write outcomes of a fault that holds a replica's database work: the write is acked late;
 * or the API's database deadline (issue 11, items 7 and 11) passed first, and it answers truly
 * 503 (before COMMIT) or 504 `OUTCOME_UNKNOWN` (after). A frozen replica meets it on the thaw,
 * when its overdue timers run before the replies that waited in its sockets.
 */
const HELD_WRITES: readonly WriteOutcome[] = ['acked', 'refused', 'unknown']

/** How many COMMITs `commit-reply-lost` loses the reply of, each at least `COMMIT_CUT_GAP_MS` apart. */
export const COMMIT_CUTS = 3
const COMMIT_CUT_GAP_MS = 500
/** How long `replica-pause` and `compound` keep the target replica stopped, ms. */
export const REPLICA_PAUSE_MS = 1_500

/**
 * The target reads the hot key about 100 times a second, through one flight at a time: a new
 * flight starts at the first read after an invalidation, and every read that arrives while it
 * loads joins it. The others write it 4 times a second: rarely enough that a flight is not cut
 * short by the next invalidation before the reads that join it are past the staleness bound.
 */
const HOT_KEY_ON_TARGET: HotKeyLoad = {
  reader: TARGET_REPLICA,
  writers: [1, 2, 3].filter((index) => index !== TARGET_REPLICA),
  rate: 104,
  writeShare: 4 / 104,
}

/** Every fault, by name. */
export const FAULTS: Record<FaultName, Fault> = {
  'redis-kill': heldFault({
    name: 'redis-kill',
    title: 'SIGKILL Redis, restart it',
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked', 'refused'] },
    inject: async ({ stack }) => {
      await stack.cluster.killRedis()
      return 'Redis killed'
    },
    undo: async ({ stack }) => {
      await stack.cluster.startRedis()
      return 'Redis restarted (empty)'
    },
  }),
  'redis-freeze': heldFault({
    name: 'redis-freeze',
    title: 'SIGSTOP Redis, SIGCONT',
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked', 'refused'], medianReadMs: 250 },
    ...frozen(
      'Redis',
      (cluster) => cluster.pauseRedis(),
      (cluster) => cluster.resumeRedis(),
    ),
  }),
  'subscriber-kill': {
    name: 'subscriber-kill',
    title: `CLIENT KILL TYPE pubsub (${target})`,
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked'] },
    async run(context) {
      const { stack, redis } = context
      const pid = stack.replicaPid(TARGET_REPLICA)
      const before = await subscriberOf(redis, pid)
      if (!before) throw new Error(`${target} has no subscriber connection`)
      const injectedAt = context.now()
      const killed = (await redis.call(
        'CLIENT',
        'KILL',
        'ADDR',
        before,
        'TYPE',
        'pubsub',
      )) as number
      if (killed !== 1) throw new Error(`CLIENT KILL removed ${killed} connections, expected 1`)
      const injectionDoneAt = context.now()
      context.note(`killed ${target}'s subscriber (${before})`)
      // Nothing undoes this fault: it is over once the replica has resubscribed on a new
      // connection and serves L1 again.
      const url = stack.replicaUrl(TARGET_REPLICA)
      await waitUntil(`${target} to resubscribe`, 30_000, async () => {
        const now = await subscriberOf(redis, pid)
        if (now === undefined || now === before) return false
        const tiers = await tiersOf(url)
        return tiers?.bus === 'up' && tiers.l1 === 'serving'
      })
      context.note(`${target} resubscribed`)
      return { injectedAt, injectionDoneAt, endedAt: context.now() }
    },
  },
  'replica-kill': heldFault({
    name: 'replica-kill',
    title: `SIGKILL ${target}, restart it`,
    proxies: [],
    expect: { failedReads: 'none', writes: ['acked', 'unknown'], unknownOnlyInFlight: 'injection' },
    inject: async ({ stack }) => {
      await stack.cluster.killReplica(TARGET_REPLICA)
      return `${target} killed`
    },
    undo: async ({ stack }) => {
      await stack.cluster.startReplica(TARGET_REPLICA)
      return `${target} restarted`
    },
  }),
  'postgres-restart': heldFault({
    name: 'postgres-restart',
    title: 'Stop PostgreSQL, start it',
    proxies: [],
    // A write whose COMMIT was on its way when PostgreSQL shut down may or may not have committed:
    // the API answers it 504 OUTCOME_UNKNOWN, truthfully. Only at the stop, never later.
    expect: {
      failedReads: 'uncached',
      writes: ['acked', 'refused', 'unknown'],
      unknownOnlyInFlight: 'injection',
    },
    inject: async ({ stack }) => {
      await stack.cluster.stopPostgres()
      return 'PostgreSQL stopped'
    },
    undo: async ({ stack }) => {
      await stack.cluster.startPostgres()
      return 'PostgreSQL started'
    },
  }),
  'redis-latency': heldFault({
    name: 'redis-latency',
    title: 'Delay on every Redis link',
    proxies: ['redis'],
    expect: { failedReads: 'none', writes: ['acked'] },
    inject: ({ stack, latencyMs }) => {
      for (const proxy of stack.proxies.redis) proxy.setDelay(latencyMs)
      return `+${latencyMs} ms each way on every replica's Redis link`
    },
    undo: ({ stack }) => {
      for (const proxy of stack.proxies.redis) proxy.setDelay(0)
      return 'delay removed'
    },
  }),
  'redis-partition': heldFault({
    name: 'redis-partition',
    title: `Stall ${target}'s Redis link`,
    proxies: ['redis'],
    expect: { failedReads: 'none', writes: ['acked', 'refused'] },
    inject: (context) => {
      proxyOf(context, 'redis', TARGET_REPLICA).stall()
      return `${target}'s Redis link stalled (nothing passes, nothing closes)`
    },
    undo: (context) => {
      proxyOf(context, 'redis', TARGET_REPLICA).resume()
      return 'link released'
    },
  }),
  'postgres-latency': heldFault({
    name: 'postgres-latency',
    title: `+${POSTGRES_LATENCY_MS} ms on ${target}'s PostgreSQL replies, hot key read there`,
    proxies: ['postgres'],
    hotKey: HOT_KEY_ON_TARGET,
    // The target's writes wait 300 ms for each reply; a database deadline may end one first.
    expect: { failedReads: 'none', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    // Only the replies are late on the target. A delay on its queries too would move every
    // load's snapshot after the COMMIT it raced, and hide what this fault is after (issue 11,
    // item 2): a load that starts on the target between a write's invalidation and its COMMIT
    // reads the old row, its reply comes back 300 ms later, and every read that arrives
    // meanwhile joins it, including reads that begin well after the writer's 200. On loopback
    // that gap between invalidation and COMMIT is under a millisecond, shorter than the target's
    // L2 round trip before it queries, so the writers' queries reach PostgreSQL 25 ms late: a
    // writer a little farther from the database than the reader, as across zones.
    inject: (context) => {
      proxyOf(context, 'postgres', TARGET_REPLICA).setDelay(POSTGRES_LATENCY_MS, 'to-client')
      for (const writer of HOT_KEY_ON_TARGET.writers)
        proxyOf(context, 'postgres', writer).setDelay(WRITER_QUERY_DELAY_MS, 'to-server')
      return (
        `+${POSTGRES_LATENCY_MS} ms on every reply from PostgreSQL to ${target}, ` +
        `+${WRITER_QUERY_DELAY_MS} ms on every query from ${HOT_KEY_ON_TARGET.writers.map((i) => `replica-${i}`).join(' and ')}`
      )
    },
    undo: (context) => {
      for (const proxy of context.stack.proxies.postgres) proxy.setDelay(0)
      return 'delays removed'
    },
  }),
  'postgres-freeze': heldFault({
    name: 'postgres-freeze',
    title: `SIGSTOP PostgreSQL ${POSTGRES_FREEZE_MS / 1000} s, SIGCONT`,
    proxies: [],
    holdMs: POSTGRES_FREEZE_MS,
    // No `medianReadMs` until the API's database deadline lands (issue 11, item 11): until
    // then uncached reads wait for the thaw, and every write is acked late.
    expect: { failedReads: 'uncached', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    ...frozen(
      'PostgreSQL (the postmaster and every backend)',
      (cluster) => cluster.pausePostgres(),
      (cluster) => cluster.resumePostgres(),
    ),
  }),
  'commit-reply-lost': {
    name: 'commit-reply-lost',
    title: `COMMIT's reply lost on ${target}'s PostgreSQL link, ${COMMIT_CUTS} times`,
    proxies: ['postgres'],
    // postgres.js prepares each statement once per connection and afterwards sends only its
    // random name, so COMMIT would be on the wire as text once per connection and then never
    // again: without prepared statements the replicas send the same SQL in the same
    // transactions, with the text each time, which the proxy's pattern can match.
    postgresUrlParams: { prepare: 'false' },
    // A write whose COMMIT reached PostgreSQL and whose reply did not come back may have
    // committed: it must be answered as unknown (504 OUTCOME_UNKNOWN), never as refused, and
    // only writes in flight while the fault is on may be. Others may be refused while the
    // target holds its database for unreachable (503 DATABASE_UNAVAILABLE, nothing changed),
    // and so may its reads of uncached keys. The checker tells the two apart: a refused write
    // that committed is a `refused-write-applied`, an acknowledged one that did not is a
    // `lost-write`.
    expect: {
      failedReads: 'uncached',
      writes: ['acked', 'refused', 'unknown'],
      unknownOnlyInFlight: 'fault',
    },
    async run(context) {
      const proxy = proxyOf(context, 'postgres', TARGET_REPLICA)
      const injectedAt = context.now()
      let injectionDoneAt: number | undefined
      for (let cut = 1; cut <= COMMIT_CUTS && !context.signal.aborted; cut++) {
        // Writes reach the target through nginx several times a second: 10 s is ample.
        await within(`a COMMIT on ${target}'s link`, 10_000, proxy.cutAfterClientMatch(/commit/i))
        injectionDoneAt ??= context.now()
        context.note(`${target}'s connection cut after it sent COMMIT (${cut}/${COMMIT_CUTS})`)
        if (cut < COMMIT_CUTS) await hold(context, COMMIT_CUT_GAP_MS)
      }
      return {
        injectedAt,
        injectionDoneAt: injectionDoneAt ?? context.now(),
        endedAt: context.now(),
      }
    },
  },
  'replica-pause': heldFault({
    name: 'replica-pause',
    title: `SIGSTOP ${target} ${REPLICA_PAUSE_MS / 1000} s while the others write, SIGCONT`,
    proxies: [],
    holdMs: REPLICA_PAUSE_MS,
    // The hot key's reads queue up on the frozen target while the others write it; once thawed,
    // the target must not answer them from an L1 whose lease ran out while it was stopped.
    hotKey: HOT_KEY_ON_TARGET,
    expect: { failedReads: 'none', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    ...frozen(
      target,
      (cluster) => cluster.pauseReplica(TARGET_REPLICA),
      (cluster) => cluster.resumeReplica(TARGET_REPLICA),
    ),
  }),
  // One fault in two phases rather than two faults: the second phase starts from a cluster that
  // has just recovered from the first (asserted: every replica serving again), which is how
  // faults come in production, and one stack instead of two keeps the short run within its
  // budget (a stack costs ~8 s to start, seed and stop on the CI machine).
  compound: {
    name: 'compound',
    title: `pub/sub drop + Redis crash; ${target} frozen while Redis restarts`,
    proxies: [],
    hotKey: HOT_KEY_ON_TARGET,
    // Refused while Redis is down; unknown: see `HELD_WRITES`.
    expect: { failedReads: 'none', writes: HELD_WRITES, unknownOnlyInFlight: 'fault' },
    async run(context) {
      const { stack, redis } = context
      // (a) Every subscriber dropped, and Redis killed while the replicas resubscribe.
      const injectedAt = context.now()
      const dropped = (await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub')) as number
      await stack.cluster.killRedis()
      const injectionDoneAt = context.now()
      context.note(`dropped ${dropped} subscriber connections, then killed Redis`)
      await hold(context, REPLICA_PAUSE_MS)
      await stack.cluster.startRedis()
      context.note('Redis restarted (empty)')
      await untilAllServing(context, 'every replica to resubscribe after Redis restarted')
      context.note('every replica serving again')
      // (b) The target frozen; Redis crashes and comes back (empty) before it is thawed.
      const pausedAt = context.now()
      stack.cluster.pauseReplica(TARGET_REPLICA)
      await stack.cluster.killRedis()
      await stack.cluster.startRedis()
      context.note(`${target} frozen; Redis killed and restarted (empty) meanwhile`)
      await hold(context, pausedAt + REPLICA_PAUSE_MS - context.now())
      stack.cluster.resumeReplica(TARGET_REPLICA)
      context.note(`${target} thawed (SIGCONT)`)
      await untilAllServing(context, `${target} to serve again after the thaw`)
      context.note('every replica serving again')
      return { injectedAt, injectionDoneAt, endedAt: context.now() }
    },
  },
}
