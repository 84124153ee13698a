import { SCENARIO_PARAMS, type ScenarioName, type ScenarioParams } from '../../scenarios/params.ts'
import type { Random } from '../../src/random.ts'
import { Zipf } from '../../src/zipf.ts'

/** One request of a k6 virtual user: the same shape as the generator's operations. */
export type K6Request =
  | { kind: 'read'; key: string }
  | { kind: 'write'; key: string; value: string }

/**
 * A value of exactly `bytes` ASCII characters that starts with `tag`: the generator's
 * `makeValue`, which k6 cannot import (its module pulls in the generator's Node-side parts).
 */
const writtenValue = (tag: string, bytes: number): string =>
  tag.length >= bytes ? tag.slice(0, bytes) : tag.padEnd(bytes, 'x')

/**
 * One k6 virtual user's next-request function for a scenario of `scenarios/params.ts`. With the
 * generator's seeded stream (`seededRandom(seed, vu)`, `vu` 0-based) it draws the very requests
 * the generator's user `vu` draws, in the same order (`k6/k6.test.ts` holds the two equal).
 */
export function requestsOf(name: ScenarioName, vu: number, random: Random): () => K6Request {
  const params: ScenarioParams = SCENARIO_PARAMS[name]
  const key = (i: number) => `${params.prefix}${i}`
  let writes = 0
  const write = (k: string): K6Request => ({
    kind: 'write',
    key: k,
    value: writtenValue(`vu${vu}:${++writes}:`, params.valueBytes),
  })
  // Each scenario draws as its generator module does (`scenarios/<name>.ts`), draw for draw.
  switch (name) {
    case 'cold': {
      const { keys } = SCENARIO_PARAMS.cold
      return () => ({ kind: 'read', key: key(Math.floor(random() * keys)) })
    }
    case 'hot-key': {
      const { keys, distribution, hotKey } = SCENARIO_PARAMS['hot-key']
      // Indexes 1..keys-1 for the other requests: the hot key is not drawn twice.
      const zipf = new Zipf(keys - 1, distribution.s)
      return () => {
        if (random() >= hotKey.share) return { kind: 'read', key: key(1 + zipf.sample(random)) }
        return random() >= hotKey.writeShare ? { kind: 'read', key: key(0) } : write(key(0))
      }
    }
    case 'read-heavy': {
      const { keys, distribution, writeShare } = SCENARIO_PARAMS['read-heavy']
      const zipf = new Zipf(keys, distribution.s)
      return () => {
        const k = key(zipf.sample(random))
        return random() >= writeShare ? { kind: 'read', key: k } : write(k)
      }
    }
    case 'write-heavy': {
      const { keys, distribution, writeShare } = SCENARIO_PARAMS['write-heavy']
      const zipf = new Zipf(keys, distribution.s)
      return () => {
        const k = key(zipf.sample(random))
        return random() < 1 - writeShare ? { kind: 'read', key: k } : write(k)
      }
    }
  }
}
