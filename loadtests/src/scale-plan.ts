import { SCENARIO_PARAMS } from '../scenarios/params.js'
import { readHeavyOver } from '../scenarios/read-heavy.js'
import type { Scenario } from './scenario.js'

/** The API refuses values above this many bytes (MAX_VALUE_BYTES' default). */
const MAX_VALUE_BYTES = 1_048_576

/**
 * Each data set of the scale run holds at most this many bytes of values: every tier keeps a
 * copy (PostgreSQL, Redis, each replica's L1 up to its own limit), the machine is shared, and
 * seeding and priming take about 30 s per 128 MiB. 100 B values keep read-heavy's 100k keys;
 * 4 KiB values get 32,768 keys, 64 KiB 2,048 and 1 MiB 128.
 */
export const DATASET_BYTES_CAP = 128 * 1024 * 1024

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1_048_576,
  mib: 1_048_576,
}

/** Parses a value size: `100`, `4k`, `64KiB`, `1m` (binary units). @throws RangeError */
export function parseSize(text: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim())
  const unit = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined
  if (!match || unit === undefined)
    throw new RangeError(`--sizes: ${JSON.stringify(text)} is not a size (e.g. 100, 4k, 64k, 1m)`)
  const bytes = Number(match[1]) * unit
  if (bytes < 16 || bytes > MAX_VALUE_BYTES)
    throw new RangeError(`--sizes: ${text} is outside 16 B..1 MiB (the API's MAX_VALUE_BYTES)`)
  return bytes
}

/** `100 B`, `4 KiB`, `64 KiB`, `1 MiB`. */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1_048_576 && bytes % 1_048_576 === 0) return `${bytes / 1_048_576} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} B`
}

/** Parses a comma-separated list, each item once, in the order given. @throws RangeError */
function parseList<T>(text: string, option: string, item: (part: string) => T): T[] {
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
  if (parts.length === 0) throw new RangeError(`${option}: empty list`)
  return [...new Set(parts.map(item))]
}

/** `--sizes 100,4k,64k,1m`, in bytes. */
export const parseSizes = (text: string): number[] => parseList(text, '--sizes', parseSize)

/** `--replicas 1,2,3,4`: replica counts of 1..16. */
export const parseReplicaCounts = (text: string): number[] =>
  parseList(text, '--replicas', (part) => {
    const n = Number(part)
    if (!Number.isInteger(n) || n < 1 || n > 16)
      throw new RangeError(`--replicas: ${JSON.stringify(part)} is not a replica count (1..16)`)
    return n
  })

/**
 * read-heavy with values of `bytes`: its own key prefix (100 B keeps read-heavy's, so its rows
 * are the usual ones), at most `maxKeys` keys and at most {@link DATASET_BYTES_CAP} of values.
 */
export function scenarioOfSize(
  bytes: number,
  maxKeys: number = SCENARIO_PARAMS['read-heavy'].keys,
): Scenario {
  const params = SCENARIO_PARAMS['read-heavy']
  const keys = Math.max(1, Math.min(maxKeys, Math.floor(DATASET_BYTES_CAP / bytes)))
  const prefix =
    bytes === params.valueBytes ? params.prefix : `rh${sizeLabel(bytes).replace(' ', '')}:`
  return readHeavyOver({ prefix, keys, valueBytes: bytes })
}

/**
 * Redis `maxmemory` for a stack serving every data set: the stack runner's default (256 MB) is
 * sized for 100-byte values, and at the limit writes are refused. Values once, plus half again
 * for keys, records and allocator overhead, plus the default.
 */
export function redisMaxMemoryFor(scenarios: readonly Scenario[]): string {
  const values = scenarios.reduce((sum, s) => sum + s.dataset.keys * s.dataset.valueBytes, 0)
  return `${Math.ceil((values * 1.5) / 1_048_576) + 256}mb`
}

/** One measured point of the run: a stack of `replicas` replicas serving values of `bytes`. */
export interface ScalePoint {
  replicas: number
  bytes: number
}

export const pointId = (p: ScalePoint) => `${p.replicas}r-${sizeLabel(p.bytes).replace(' ', '')}`

/**
 * The measurements in order: every round measures every point once; rounds rotate the order of
 * the stacks (the sizes of one stack run together, so a round resumes each stack once), so that
 * no stack always runs first or after the same neighbour.
 */
export function scalePlan(
  replicas: readonly number[],
  sizes: readonly number[],
  repeat: number,
): { round: number; point: ScalePoint }[] {
  return Array.from({ length: repeat }, (_, round) =>
    replicas
      .map((_, i) => replicas[(i + round) % replicas.length] as number)
      .flatMap((r) => sizes.map((bytes) => ({ round, point: { replicas: r, bytes } }))),
  ).flat()
}
