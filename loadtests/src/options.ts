import { duration, flag, int } from '@strata/stack/options'
import { RUN_DEFAULTS } from '../scenarios/params.js'

/** Options every command that runs a scenario takes. */
export const SCENARIO_OPTIONS = {
  duration: duration(`${RUN_DEFAULTS.durationSeconds}s`),
  warmup: duration(`${RUN_DEFAULTS.warmupSeconds}s`),
  vus: int(RUN_DEFAULTS.vus),
  seed: int(1),
  'no-prime': flag(),
} as const

// The commands read their options with the tools' one parser.
export {
  duration,
  flag,
  int,
  type OptionSpec,
  type OptionValues,
  parseOptions,
  text,
  texts,
} from '@strata/stack/options'
