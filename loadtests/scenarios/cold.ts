import { type Dataset, defineScenario, keyOf } from '../src/scenario.js'

const dataset: Dataset = { prefix: 'cold:', keys: 1_000_000, valueBytes: 100 }

/**
 * Where caching helps least: uniform reads over 1M keys. L1 (1,000 entries per replica) can
 * hold 0.1% of them, and a key is rarely read twice within a run, so most reads reach the
 * database. Not primed: the point is what a cold cache costs.
 */
export const cold = defineScenario({
  name: 'cold',
  description: 'uniform reads over 1M keys: caching helps least',
  dataset,
  prime: false,
  thresholds: ['errors==0'],
  createUser:
    ({ random }) =>
    () => ({ kind: 'read', key: keyOf(dataset, Math.floor(random() * dataset.keys)) }),
})
