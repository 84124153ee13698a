import type { LoadBalancing } from '@strata/stack/config'
import { seededRandom } from './random.js'
import type { Scenario } from './scenario.js'

/** What the ideal cluster model is asked. */
export interface SimulationOptions {
  scenario: Scenario
  /** API replicas. @default 3 */
  replicas?: number
  /** L1 entries per replica (`L1_CACHE_SIZE`). @default 1000 */
  l1Size?: number
  /** Reads go to replicas in turn (`round-robin`) or by key (`key-affinity`). @default 'round-robin' */
  lb?: LoadBalancing
  /** Operations before the counted ones (L1s fill). @default 30_000 */
  warmupOps?: number
  /** Operations counted. @default 150_000 */
  ops?: number
  /** L2 holds every key at the start, as after `prime`. @default scenario.prime */
  primed?: boolean
  /** @default 1 */
  seed?: number
}

/** Hit rates of the model, as percentages of reads, overall and per `group`. */
export interface SimulationResult {
  l1_hit_rate: number
  combined_hit_rate: number
  by_group: Record<string, { reads: number; l1_hit_rate: number; combined_hit_rate: number }>
}

/**
 * The ideal cluster: each replica an exact LRU of `l1Size` keys, an unbounded L2, and writes
 * that invalidate every copy instantly and atomically (no load racing a write, no replica
 * loading a key another one is loading). The gap between this and a measured run is what the
 * implementation and the machine cost. TTLs are left out: runs are far shorter than them.
 */
export function simulate(options: SimulationOptions): SimulationResult {
  const replicas = options.replicas ?? 3
  const l1Size = options.l1Size ?? 1000
  const affinity = options.lb === 'key-affinity'
  const warmupOps = options.warmupOps ?? 30_000
  const ops = options.ops ?? 150_000
  const random = seededRandom(options.seed ?? 1, 0)
  const next = options.scenario.createUser({ vu: 0, random })
  // Map iteration order is insertion order: delete + set moves a key to the young end.
  const l1 = Array.from({ length: replicas }, () => new Map<string, true>())
  const l2 = new Set<string>()
  const primed = options.primed ?? options.scenario.prime
  const known = (key: string) => primed || l2.has(key)
  const removedFromL2 = new Set<string>()
  let turn = 0
  const totals = { reads: 0, l1: 0, l2: 0 }
  const groups = new Map<string, { reads: number; l1: number; l2: number }>()

  for (let i = 0; i < warmupOps + ops; i++) {
    const op = next()
    const counted = i >= warmupOps
    if (op.kind === 'write') {
      for (const cache of l1) cache.delete(op.key)
      l2.delete(op.key)
      removedFromL2.add(op.key)
      continue
    }
    const replica = affinity ? hash(op.key) % replicas : turn++ % replicas
    const cache = l1[replica] as Map<string, true>
    const inL2 = l2.has(op.key) || (known(op.key) && !removedFromL2.has(op.key))
    let level: 'L1' | 'L2' | 'DB'
    if (cache.delete(op.key)) level = 'L1'
    else level = inL2 ? 'L2' : 'DB'
    cache.set(op.key, true)
    if (cache.size > l1Size) cache.delete(cache.keys().next().value as string)
    l2.add(op.key)
    if (!counted) continue
    const group = op.group ?? 'all'
    let g = groups.get(group)
    if (!g) {
      g = { reads: 0, l1: 0, l2: 0 }
      groups.set(group, g)
    }
    for (const c of [totals, g]) {
      c.reads++
      if (level === 'L1') c.l1++
      if (level === 'L2') c.l2++
    }
  }
  const pct = (part: number, whole: number) =>
    whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 100
  return {
    l1_hit_rate: pct(totals.l1, totals.reads),
    combined_hit_rate: pct(totals.l1 + totals.l2, totals.reads),
    by_group: Object.fromEntries(
      [...groups]
        .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
        .map(([name, g]) => [
          name,
          {
            reads: g.reads,
            l1_hit_rate: pct(g.l1, g.reads),
            combined_hit_rate: pct(g.l1 + g.l2, g.reads),
          },
        ]),
    ),
  }
}

/** FNV-1a: spreads keys over replicas as evenly as nginx's consistent hash does on average. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
