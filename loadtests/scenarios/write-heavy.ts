import { type Dataset, defineScenario, keyOf, sharedZipf, writerFor } from '../src/scenario.js'

const dataset: Dataset = { prefix: 'wh:', keys: 100_000, valueBytes: 100 }

/**
 * Half reads, half writes, over the read-heavy Zipf distribution: every write invalidates the
 * key on every replica, so hit rates fall and the database and the bus carry the load.
 */
export const writeHeavy = defineScenario({
  name: 'write-heavy',
  description: 'Zipf (s=1.1) over 100k keys, 50% reads / 50% writes',
  dataset,
  prime: true,
  thresholds: ['errors==0'],
  createUser: ({ vu, random }) => {
    const zipf = sharedZipf(dataset.keys, 1.1)
    const write = writerFor(vu, dataset)
    return () => {
      const key = keyOf(dataset, zipf.sample(random))
      return random() < 0.5 ? { kind: 'read', key } : write(key)
    }
  },
})
