import type { ScenarioParams } from '../scenarios/params.js'
import type { Random } from './random.js'
import { parseThreshold, type Threshold } from './thresholds.js'
import { Zipf } from './zipf.js'

/** One request a virtual user makes. */
export type Operation =
  | {
      kind: 'read'
      key: string
      /** Optional label (e.g. the key's popularity class): the summary breaks hit rates down by it. */
      group?: string
    }
  | { kind: 'write'; key: string; value: string }

/** The rows a scenario needs, created with one SQL statement before the run. */
export interface Dataset {
  /** Every key is `${prefix}${i}` for i in 0..keys-1; the prefix keeps scenarios apart. */
  prefix: string
  /** Number of keys. */
  keys: number
  /** Bytes of each value, seeded and written. @default 100 */
  valueBytes: number
}

/** What a scenario's user factory gets. */
export interface UserContext {
  /** 0-based index of the virtual user. */
  vu: number
  /** This user's own seeded stream of numbers. */
  random: Random
}

/** A workload: its data set, how each virtual user picks requests, and what a pass looks like. */
export interface Scenario {
  name: string
  /** One line for `--help` and reports. */
  description: string
  dataset: Dataset
  /**
   * Read every key once before the warm-up, so L2 starts as a long-running cluster's would
   * (holding the whole working set) instead of empty. Without it a 30 s run measures mostly
   * first-time misses of the long Zipf tail, not the cache.
   */
  prime: boolean
  /** A 404 on a read is expected (the key may not exist) rather than an error. @default false */
  expectNotFound?: boolean
  /** Checked by `pnpm loadtest`; the run fails (exit 1) when one is violated. */
  thresholds: readonly Threshold[]
  /** Returns one virtual user's next-operation function. Called once per user. */
  createUser(context: UserContext): () => Operation
}

/**
 * A value of exactly `bytes` ASCII characters that starts with `tag`, so a written value
 * differs from the previous one and can be told apart in the database.
 */
export function makeValue(tag: string, bytes: number): string {
  if (tag.length >= bytes) return tag.slice(0, bytes)
  // The shared padding covers the usual sizes without a new string per write; larger values
  // (the scale run's 64 KiB and 1 MiB) build their own.
  const pad = bytes - tag.length
  return tag + (pad <= PADDING.length ? PADDING.slice(0, pad) : 'x'.repeat(pad))
}

const PADDING = 'x'.repeat(4096)

/** The data set of a scenario's shared parameters (`scenarios/params.ts`). */
export const datasetOf = ({ prefix, keys, valueBytes }: ScenarioParams): Dataset => ({
  prefix,
  keys,
  valueBytes,
})

/** Builds the key of index `i` in a data set. */
export const keyOf = (dataset: Dataset, i: number): string => `${dataset.prefix}${i}`

/** What {@link defineScenario} takes: a scenario with its thresholds written as text. */
export type ScenarioSpec = Omit<Scenario, 'thresholds'> & {
  /** `METRIC OP NUMBER`, e.g. `'combined_hit_rate>90'`. */
  thresholds: readonly string[]
}

/**
 * Builds a scenario; its thresholds are parsed here, so a typo fails when the module loads.
 * @example export const cold = defineScenario({ name: 'cold', …, thresholds: ['errors==0'] })
 */
export const defineScenario = (spec: ScenarioSpec): Scenario => ({
  ...spec,
  thresholds: spec.thresholds.map(parseThreshold),
})

const zipfs = new Map<string, Zipf>()

/**
 * The Zipf distribution over `n` ranks with exponent `s`, built on first use and shared by
 * every user and scenario: its cumulative table takes 8 bytes per rank (800 KB for 100k keys).
 */
export function sharedZipf(n: number, s: number): Zipf {
  const id = `${n}:${s}`
  let zipf = zipfs.get(id)
  if (!zipf) {
    zipf = new Zipf(n, s)
    zipfs.set(id, zipf)
  }
  return zipf
}

/**
 * One user's writes: each call writes `key` with a new value of the data set's size, tagged
 * with the user and a counter so that every written value differs from the one before.
 */
export function writerFor(vu: number, dataset: Dataset): (key: string) => Operation {
  let writes = 0
  return (key) => ({
    kind: 'write',
    key,
    value: makeValue(`vu${vu}:${++writes}:`, dataset.valueBytes),
  })
}
