import { rankGroup } from '../src/key-groups.js'
import { type Dataset, keyOf, makeValue, type Scenario } from '../src/scenario.js'
import { parseThreshold } from '../src/thresholds.js'
import { Zipf } from '../src/zipf.js'

const dataset: Dataset = { prefix: 'rh:', keys: 100_000, valueBytes: 100 }
/** Zipf exponent: rank 1 gets 13.5% of the traffic, the top 1,000 keys 75%. */
const S = 1.1
const WRITE_SHARE = 0.05

/**
 * The headline workload: Zipf-distributed keys (s = 1.1) over 100k keys, 95% reads and 5%
 * writes. Writes follow the same distribution, so hot keys are also the most rewritten.
 */
export const readHeavy: Scenario = {
  name: 'read-heavy',
  description: 'Zipf (s=1.1) over 100k keys, 95% reads / 5% writes: the headline workload',
  dataset,
  prime: true,
  thresholds: ['errors==0', 'combined_hit_rate>90', 'p99_ms<100'].map(parseThreshold),
  createUser: ({ vu, random }) => {
    const zipf = zipfOf()
    let writes = 0
    return () => {
      const rank = zipf.sample(random)
      const key = keyOf(dataset, rank)
      if (random() >= WRITE_SHARE) return { kind: 'read', key, group: rankGroup(rank) }
      return { kind: 'write', key, value: makeValue(`vu${vu}:${++writes}:`, dataset.valueBytes) }
    }
  },
}

// The CDF is 800 KB: build it once and share it between users.
let shared: Zipf | undefined
const zipfOf = () => {
  shared ??= new Zipf(dataset.keys, S)
  return shared
}
