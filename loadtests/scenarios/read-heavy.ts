import { rankGroup } from '../src/key-groups.js'
import { datasetOf, defineScenario, keyOf, sharedZipf, writerFor } from '../src/scenario.js'
import { SCENARIO_PARAMS } from './params.js'

const params = SCENARIO_PARAMS['read-heavy']
const dataset = datasetOf(params)

/**
 * The headline workload: Zipf-distributed keys (s = 1.1) over 100k keys, 95% reads and 5%
 * writes. Writes follow the same distribution, so hot keys are also the most rewritten.
 */
export const readHeavy = defineScenario({
  name: 'read-heavy',
  description: 'Zipf (s=1.1) over 100k keys, 95% reads / 5% writes: the headline workload',
  dataset,
  prime: params.prime,
  thresholds: params.thresholds,
  createUser: ({ vu, random }) => {
    const zipf = sharedZipf(dataset.keys, params.distribution.s)
    const write = writerFor(vu, dataset)
    return () => {
      const rank = zipf.sample(random)
      const key = keyOf(dataset, rank)
      return random() >= params.writeShare
        ? { kind: 'read', key, group: rankGroup(rank) }
        : write(key)
    }
  },
})
