import { setTimeout as sleep } from 'node:timers/promises'
import { httpRequest } from '@strata/stack/http'
import type { WriteOutcome } from '@strata/testkit'
import type { Fault, FaultContext, HotKeyLoad } from './fault.js'
import { type ChaosStack, type Link, REPLICAS } from './stack.js'

// The building blocks the catalogue (faults.ts) is made of: holds, freezes, proxies, waits.

/** Replica the single-replica faults hit. */
export const TARGET_REPLICA = 2

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
export async function tiersOf(url: string): Promise<{ bus?: string; l1?: string } | undefined> {
  try {
    const body = (await httpRequest(`${url}/health`, { timeoutMs: 2_000 }).then((answer) =>
      JSON.parse(answer.body),
    )) as { checks?: { bus?: string; l1?: string } }
    return body.checks
  } catch {
    return undefined
  }
}

/** Holds a fault for `ms` (the fault's own timing, not a wait for a race); ends early on abort. */
export const hold = (context: FaultContext, ms: number) =>
  sleep(Math.max(0, ms), undefined, { signal: context.signal }).catch(() => {})

/** Waits until every replica's bus is up and its L1 serves again. */
export async function untilAllServing(context: FaultContext, what: string): Promise<void> {
  const urls = Array.from({ length: REPLICAS }, (_, i) => context.stack.replicaUrl(i + 1))
  await waitUntil(what, 30_000, async () => {
    const tiers = await Promise.all(urls.map(tiersOf))
    return tiers.every((tier) => tier?.bus === 'up' && tier.l1 === 'serving')
  })
}

/** `promise`, or an error naming `what` after `timeoutMs`. */
export async function within<T>(what: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
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
export interface HeldFaultSpec extends Omit<Fault, 'run'> {
  /**
   * How long it is held, ms, when the fault fixes it (`replica-pause`: 1.5 s) rather than taking
   * `--hold`.
   */
  holdMs?: number
  inject(context: FaultContext): Promise<string> | string
  undo(context: FaultContext): Promise<string> | string
}

/** Builds a held fault: each step's returned text becomes a note. */
export function heldFault(spec: HeldFaultSpec): Fault {
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
export function frozen(
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
export function proxyOf(context: FaultContext, link: Link, index: number) {
  const proxy = context.stack.proxies[link][index - 1]
  if (!proxy)
    throw new Error(
      `replica-${index} has no ${link} proxy; the fault must list '${link}' in proxies`,
    )
  return proxy
}

export const target = `replica-${TARGET_REPLICA}`

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
export const HELD_WRITES: readonly WriteOutcome[] = ['acked', 'refused', 'unknown']

/** How many COMMITs `commit-reply-lost` loses the reply of, each at least `COMMIT_CUT_GAP_MS` apart. */
export const COMMIT_CUTS = 3
export const COMMIT_CUT_GAP_MS = 500
/** How long `replica-pause` and `compound` keep the target replica stopped, ms. */
export const REPLICA_PAUSE_MS = 1_500

/**
 * The target reads the hot key about 100 times a second, through one flight at a time: a new
 * flight starts at the first read after an invalidation, and every read that arrives while it
 * loads joins it. The others write it 4 times a second: rarely enough that a flight is not cut
 * short by the next invalidation before the reads that join it are past the staleness bound.
 */
export const HOT_KEY_ON_TARGET: HotKeyLoad = {
  reader: TARGET_REPLICA,
  writers: [1, 2, 3].filter((index) => index !== TARGET_REPLICA),
  rate: 104,
  writeShare: 4 / 104,
}
