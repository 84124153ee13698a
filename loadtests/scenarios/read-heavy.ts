import { rankGroup } from '../src/key-groups.js'
import {
  type Dataset,
  datasetOf,
  defineScenario,
  keyOf,
  type Scenario,
  sharedZipf,
  writerFor,
} from '../src/scenario.js'
import { SCENARIO_PARAMS } from './params.js'

const params = SCENARIO_PARAMS['read-heavy']
const dataset = datasetOf(params)

/**
 * The headline workload: Zipf-distributed keys (s = 1.1) over 100k keys, 95% reads and 5%
 * writes. Writes follow the same distribution, so hot keys are also the most rewritten.
 */
export const readHeavy = readHeavyOver(dataset)

/**
 * The read-heavy mix over another data set (the scale run's value sizes): the same Zipf
 * exponent and write share, over `data.keys` keys of `data.valueBytes` bytes.
 */
export function readHeavyOver(data: Dataset): Scenario {
  return defineScenario({
    name: 'read-heavy',
    description: `Zipf (s=1.1) over ${data.keys % 1000 === 0 ? `${data.keys / 1000}k` : data.keys} keys, 95% reads / 5% writes: the headline workload`,
    dataset: data,
    prime: params.prime,
    thresholds: params.thresholds,
    createUser: ({ vu, random }) => {
      const zipf = sharedZipf(data.keys, params.distribution.s)
      const write = writerFor(vu, data)
      return () => {
        const rank = zipf.sample(random)
        const key = keyOf(data, rank)
        return random() >= params.writeShare
          ? { kind: 'read', key, group: rankGroup(rank) }
          : write(key)
      }
    },
  })
}
