import { type Dataset, defineScenario, keyOf, sharedZipf, writerFor } from '../src/scenario.js'

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
export const hotKey = defineScenario({
  name: 'hot-key',
  description: 'one key takes 50% of the traffic and is rewritten (10% of its requests)',
  dataset,
  prime: true,
  thresholds: ['errors==0', 'combined_hit_rate>70'],
  createUser: ({ vu, random }) => {
    // Ranks 1..n-1 for the other half: the hot key is not drawn twice.
    const zipf = sharedZipf(dataset.keys - 1, 1.1)
    const write = writerFor(vu, dataset)
    const hot = keyOf(dataset, 0)
    return () => {
      if (random() >= HOT_SHARE)
        return { kind: 'read', key: keyOf(dataset, 1 + zipf.sample(random)) }
      return random() >= HOT_WRITE_SHARE ? { kind: 'read', key: hot } : write(hot)
    }
  },
})
