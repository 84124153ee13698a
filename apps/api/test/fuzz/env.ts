import { randomInt } from 'node:crypto'

/**
 * The seed every fuzz property starts from when `FUZZ_SEED` is not set. Fixed, so a CI run is
 * reproducible and a red build stays red until the bug is fixed.
 */
export const DEFAULT_FUZZ_SEED = 20_260_601

/** How the fuzz suites run: one seed for every property, and optionally one run count for all. */
export interface FuzzConfig {
  /** The seed of every property in this run; printed with any failure. */
  seed: number
  /** True when the seed was drawn at random (`FUZZ_SEED=random`). */
  randomSeed: boolean
  /** Overrides every property's own run count when set. */
  runs: number | undefined
}

/**
 * Parses the fuzz settings. Only this file reads `process.env` in the fuzz suites.
 * - `FUZZ_SEED`: an integer to replay a failure, `random` to explore new inputs; default fixed.
 * - `FUZZ_RUNS`: runs per property (each property has its own default sized for CI).
 */
export function parseFuzzEnv(source: Record<string, string | undefined>): FuzzConfig {
  const seedText = source.FUZZ_SEED?.trim() ?? ''
  const runsText = source.FUZZ_RUNS?.trim() ?? ''
  let seed = DEFAULT_FUZZ_SEED
  let randomSeed = false
  if (seedText === 'random') {
    seed = randomInt(2 ** 31)
    randomSeed = true
  } else if (seedText !== '') {
    seed = Number(seedText)
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`FUZZ_SEED must be an integer or "random" (got ${JSON.stringify(seedText)})`)
    }
  }
  let runs: number | undefined
  if (runsText !== '') {
    runs = Number(runsText)
    if (!Number.isSafeInteger(runs) || runs < 1) {
      throw new Error(`FUZZ_RUNS must be a positive integer (got ${JSON.stringify(runsText)})`)
    }
  }
  return { seed, randomSeed, runs }
}

/** The settings of this process, read once. */
export const fuzzConfig: FuzzConfig = parseFuzzEnv(process.env)
