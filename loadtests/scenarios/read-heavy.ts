import { rankGroup } from '../src/key-groups.js'
import { type Dataset, defineScenario, keyOf, sharedZipf, writerFor } from '../src/scenario.js'

const dataset: Dataset = { prefix: 'rh:', keys: 100_000, valueBytes: 100 }
/** Zipf exponent: rank 1 gets 13.5% of the traffic, the top 1,000 keys 75%. */
const S = 1.1
const WRITE_SHARE = 0.05

/**
 * The headline workload: Zipf-distributed keys (s = 1.1) over 100k keys, 95% reads and 5%
 * writes. Writes follow the same distribution, so hot keys are also the most rewritten.
 */
export const readHeavy = defineScenario({
  name: 'read-heavy',
  description: 'Zipf (s=1.1) over 100k keys, 95% reads / 5% writes: the headline workload',
  dataset,
  prime: true,
  thresholds: ['errors==0', 'combined_hit_rate>90', 'p99_ms<100'],
  createUser: ({ vu, random }) => {
    const zipf = sharedZipf(dataset.keys, S)
    const write = writerFor(vu, dataset)
    return () => {
      const rank = zipf.sample(random)
      const key = keyOf(dataset, rank)
      return random() >= WRITE_SHARE ? { kind: 'read', key, group: rankGroup(rank) } : write(key)
    }
  },
})
