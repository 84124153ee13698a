import { datasetOf, defineScenario, keyOf, sharedZipf, writerFor } from '../src/scenario.js'
import { SCENARIO_PARAMS } from './params.js'

const params = SCENARIO_PARAMS['hot-key']
const dataset = datasetOf(params)

/**
 * An invalidation storm: one key takes half of the traffic while it is rewritten (every tenth
 * request to it is a write, so every replica drops it from L1 many times a second). The other
 * half reads the rest of the keys with the read-heavy Zipf distribution.
 */
export const hotKey = defineScenario({
  name: 'hot-key',
  description: 'one key takes 50% of the traffic and is rewritten (10% of its requests)',
  dataset,
  prime: params.prime,
  thresholds: params.thresholds,
  createUser: ({ vu, random }) => {
    // Ranks 1..n-1 for the other half: the hot key is not drawn twice.
    const zipf = sharedZipf(dataset.keys - 1, params.distribution.s)
    const write = writerFor(vu, dataset)
    const hot = keyOf(dataset, 0)
    return () => {
      if (random() >= params.hotKey.share)
        return { kind: 'read', key: keyOf(dataset, 1 + zipf.sample(random)) }
      return random() >= params.hotKey.writeShare ? { kind: 'read', key: hot } : write(hot)
    }
  },
})
