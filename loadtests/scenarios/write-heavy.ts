import { datasetOf, defineScenario, keyOf, sharedZipf, writerFor } from '../src/scenario.js'
import { SCENARIO_PARAMS } from './params.js'

const params = SCENARIO_PARAMS['write-heavy']
const dataset = datasetOf(params)

/**
 * Half reads, half writes, over the read-heavy Zipf distribution: every write invalidates the
 * key on every replica, so hit rates fall and the database and the bus carry the load.
 */
export const writeHeavy = defineScenario({
  name: 'write-heavy',
  description: 'Zipf (s=1.1) over 100k keys, 50% reads / 50% writes',
  dataset,
  prime: params.prime,
  thresholds: params.thresholds,
  createUser: ({ vu, random }) => {
    const zipf = sharedZipf(dataset.keys, params.distribution.s)
    const write = writerFor(vu, dataset)
    return () => {
      const key = keyOf(dataset, zipf.sample(random))
      // Reads below the read share, as the draw has always been made (the seeded streams hold).
      return random() < 1 - params.writeShare ? { kind: 'read', key } : write(key)
    }
  },
})
