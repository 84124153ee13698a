import type { Scenario } from '../src/scenario.js'
import { cold } from './cold.js'
import { hotKey } from './hot-key.js'
import { readHeavy } from './read-heavy.js'
import { writeHeavy } from './write-heavy.js'

/** Every scenario by name; `read-heavy` is the default. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  'read-heavy': readHeavy,
  'hot-key': hotKey,
  cold,
  'write-heavy': writeHeavy,
}

/** Looks a scenario up by name. @throws RangeError listing the known names */
export function scenarioNamed(name: string): Scenario {
  const scenario = SCENARIOS[name]
  if (!scenario)
    throw new RangeError(
      `unknown scenario ${JSON.stringify(name)}; choose one of ${Object.keys(SCENARIOS).join(', ')}`,
    )
  return scenario
}
