import { type Dataset, keyOf, makeValue, type Scenario } from '../src/scenario.js'
import { parseThreshold } from '../src/thresholds.js'
import { Zipf } from '../src/zipf.js'

const dataset: Dataset = { prefix: 'wh:', keys: 100_000, valueBytes: 100 }

/**
 * Half reads, half writes, over the read-heavy Zipf distribution: every write invalidates the
 * key on every replica, so hit rates fall and the database and the bus carry the load.
 */
export const writeHeavy: Scenario = {
  name: 'write-heavy',
  description: 'Zipf (s=1.1) over 100k keys, 50% reads / 50% writes',
  dataset,
  prime: true,
  thresholds: ['errors==0'].map(parseThreshold),
  createUser: ({ vu, random }) => {
    const zipf = zipfOf()
    let writes = 0
    return () => {
      const key = keyOf(dataset, zipf.sample(random))
      if (random() < 0.5) return { kind: 'read', key }
      return { kind: 'write', key, value: makeValue(`vu${vu}:${++writes}:`, dataset.valueBytes) }
    }
  },
}

let shared: Zipf | undefined
const zipfOf = () => {
  shared ??= new Zipf(dataset.keys, 1.1)
  return shared
}
