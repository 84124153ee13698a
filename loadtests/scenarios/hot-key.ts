import { type Dataset, keyOf, makeValue, type Scenario } from '../src/scenario.js'
import { parseThreshold } from '../src/thresholds.js'
import { Zipf } from '../src/zipf.js'

const dataset: Dataset = { prefix: 'hk:', keys: 100_000, valueBytes: 100 }
/** `hk:0` takes this share of all requests… */
const HOT_SHARE = 0.5
/** …and this share of those rewrite it: 5% of all requests are writes to one key. */
const HOT_WRITE_SHARE = 0.1

/**
 * An invalidation storm: one key takes half of the traffic while it is rewritten (every tenth
 * request to it is a write, so every replica drops it from L1 many times a second). The other
 * half reads the rest of the keys with the read-heavy Zipf distribution.
 */
export const hotKey: Scenario = {
  name: 'hot-key',
  description: 'one key takes 50% of the traffic and is rewritten (10% of its requests)',
  dataset,
  prime: true,
  thresholds: ['errors==0', 'combined_hit_rate>70'].map(parseThreshold),
  createUser: ({ vu, random }) => {
    const zipf = zipfOf()
    const hot = keyOf(dataset, 0)
    let writes = 0
    return () => {
      if (random() < HOT_SHARE) {
        if (random() >= HOT_WRITE_SHARE) return { kind: 'read', key: hot }
        return {
          kind: 'write',
          key: hot,
          value: makeValue(`vu${vu}:${++writes}:`, dataset.valueBytes),
        }
      }
      // Ranks 1..n-1: the hot key is not drawn twice.
      return { kind: 'read', key: keyOf(dataset, 1 + zipf.sample(random)) }
    }
  },
}

let shared: Zipf | undefined
const zipfOf = () => {
  shared ??= new Zipf(dataset.keys - 1, 1.1)
  return shared
}
