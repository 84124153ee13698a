import fc from 'fast-check'
import { fuzzConfig } from './env.js'

/**
 * Runs an async property with the run's seed and resolves with the number of runs once it held
 * for every input. On failure the error names the seed and how to replay it.
 */
export async function checkProperty<Ts extends [unknown, ...unknown[]]>(
  property: fc.IAsyncPropertyWithHooks<Ts>,
  defaultRuns: number,
): Promise<number> {
  const { seed, runs } = fuzzConfig
  const numRuns = runs ?? defaultRuns
  try {
    await fc.assert(property, { seed, numRuns })
    return numRuns
  } catch (error) {
    const replay = `replay with FUZZ_SEED=${seed} FUZZ_RUNS=${numRuns}`
    if (error instanceof Error) {
      error.message = `${replay}\n${error.message}`
      throw error
    }
    throw new Error(`${replay}\n${String(error)}`)
  }
}

/**
 * The vitest timeout for a property of `defaultRuns` runs. A run is a few milliseconds here,
 * but ten times that on a loaded 2-core CI machine: allow 250 ms a run, and 3 minutes at least.
 */
export const propertyTimeout = (defaultRuns: number): number =>
  Math.max(180_000, (fuzzConfig.runs ?? defaultRuns) * 250)
