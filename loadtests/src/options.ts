import { duration, flag, int } from '@strata/stack/options'

/** Options every command that runs a scenario takes. */
export const SCENARIO_OPTIONS = {
  duration: duration('30s'),
  warmup: duration('5s'),
  vus: int(32),
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
