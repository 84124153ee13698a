import { setTimeout as sleep } from 'node:timers/promises'
import type { WriteOutcome } from '@strata/testkit'
import type { Redis } from 'ioredis'
import { subscriberOf } from './redis-clients.js'
import type { ChaosStack } from './stack.js'

/** The faults `pnpm chaos` knows, in the order it runs them. */
export const FAULT_NAMES = [
  'redis-kill',
  'redis-freeze',
  'subscriber-kill',
  'replica-kill',
  'postgres-restart',
  'redis-latency',
  'redis-partition',
] as const

export type FaultName = (typeof FAULT_NAMES)[number]

/** How long after an injection a write may still end `unknown` (see `unknownOnlyInFlight`). */
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
   * `unknown` is allowed only for writes in flight at the moment of injection (a killed
   * replica's), or begun within {@link UNKNOWN_GRACE_MS} of it: nginx may still send a POST on a
   * keep-alive connection to the dead replica before it has seen that connection close, and a
   * POST it has sent is never retried elsewhere.
   */
  unknownOnlyInFlight?: boolean
  /**
   * The most the median read may take while the fault is on, in milliseconds: calls must fail
   * fast instead of each waiting for a timeout.
   */
  medianReadMs?: number
}

/** One fault: how to inject it and what must hold meanwhile. */
export interface Fault {
  name: FaultName
  /** One line for the results table. */
  title: string
  /** Whether the stack needs a TCP proxy on each replica's Redis link. */
  proxies: boolean
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

/** A fault that is injected, held for `holdMs`, then undone. */
interface HeldFaultSpec extends Omit<Fault, 'run'> {
  inject(context: FaultContext): Promise<string> | string
  undo(context: FaultContext): Promise<string> | string
}

/** Builds a held fault: each step's returned text becomes a note. */
function heldFault(spec: HeldFaultSpec): Fault {
  const { inject, undo, ...fault } = spec
  return {
    ...fault,
    async run(context) {
      const injectedAt = context.now()
      const injected = await inject(context)
      const injectionDoneAt = context.now()
      context.note(injected)
      await sleep(context.holdMs, undefined, { signal: context.signal }).catch(() => {})
      context.note(await undo(context))
      return { injectedAt, injectionDoneAt, endedAt: context.now() }
    },
  }
}

/** The proxy on replica `index`'s Redis link. */
function proxyOf(context: FaultContext, index: number) {
  const proxy = context.stack.proxies[index - 1]
  if (!proxy) throw new Error(`replica-${index} has no proxy; the fault needs a proxied stack`)
  return proxy
}

const target = `replica-${TARGET_REPLICA}`

/** Every fault, by name. */
export const FAULTS: Record<FaultName, Fault> = {
  'redis-kill': heldFault({
    name: 'redis-kill',
    title: 'SIGKILL Redis, restart it',
    proxies: false,
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
    proxies: false,
    expect: { failedReads: 'none', writes: ['acked', 'refused'], medianReadMs: 250 },
    inject: ({ stack }) => {
      stack.cluster.pauseRedis()
      return 'Redis frozen (SIGSTOP)'
    },
    undo: ({ stack }) => {
      stack.cluster.resumeRedis()
      return 'Redis thawed (SIGCONT)'
    },
  }),
  'subscriber-kill': {
    name: 'subscriber-kill',
    title: `CLIENT KILL TYPE pubsub (${target})`,
    proxies: false,
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
    proxies: false,
    expect: { failedReads: 'none', writes: ['acked', 'unknown'], unknownOnlyInFlight: true },
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
    proxies: false,
    expect: { failedReads: 'uncached', writes: ['acked', 'refused'] },
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
    proxies: true,
    expect: { failedReads: 'none', writes: ['acked'] },
    inject: ({ stack, latencyMs }) => {
      for (const proxy of stack.proxies) proxy.setDelay(latencyMs)
      return `+${latencyMs} ms each way on every replica's Redis link`
    },
    undo: ({ stack }) => {
      for (const proxy of stack.proxies) proxy.setDelay(0)
      return 'delay removed'
    },
  }),
  'redis-partition': heldFault({
    name: 'redis-partition',
    title: `Stall ${target}'s Redis link`,
    proxies: true,
    expect: { failedReads: 'none', writes: ['acked', 'refused'] },
    inject: (context) => {
      proxyOf(context, TARGET_REPLICA).stall()
      return `${target}'s Redis link stalled (nothing passes, nothing closes)`
    },
    undo: (context) => {
      proxyOf(context, TARGET_REPLICA).resume()
      return 'link released'
    },
  }),
}
