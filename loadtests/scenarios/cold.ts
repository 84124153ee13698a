import { datasetOf, defineScenario, keyOf } from '../src/scenario.js'
import { SCENARIO_PARAMS } from './params.js'

const params = SCENARIO_PARAMS.cold
const dataset = datasetOf(params)

/**
 * Where caching helps least: uniform reads over 1M keys. L1 (1,000 entries per replica) can
 * hold 0.1% of them, and a key is rarely read twice within a run, so most reads reach the
 * database. Not primed: the point is what a cold cache costs.
 */
export const cold = defineScenario({
  name: 'cold',
  description: 'uniform reads over 1M keys: caching helps least',
  dataset,
  prime: params.prime,
  thresholds: params.thresholds,
  createUser:
    ({ random }) =>
    () => ({ kind: 'read', key: keyOf(dataset, Math.floor(random() * dataset.keys)) }),
})
