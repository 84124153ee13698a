import { rankGroup } from '../src/key-groups.js'
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
      // Labelled by popularity, the hot key as #1: its own combined hit rate shows how much the
      // reloads after each of its writes cost (the rest of the keys hardly change).
      if (random() >= params.hotKey.share) {
        const rank = 1 + zipf.sample(random)
        return { kind: 'read', key: keyOf(dataset, rank), group: rankGroup(rank) }
      }
      return random() >= params.hotKey.writeShare
        ? { kind: 'read', key: hot, group: rankGroup(0) }
        : write(hot)
    }
  },
})
