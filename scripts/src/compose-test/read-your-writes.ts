import { failures, http } from './report.js'

/** What {@link writeThenReadEverywhere} saw. */
export interface ReadYourWrites {
  stale: number
  reads: number
}

/**
 * Writes each key `rounds` times through nginx and, after each write, reads it until every one of
 * `replicas` has answered: each replica first caches the old version in L1, then a write through
 * any replica must reach all of them (the bus), never a stale value. A write that is not a 200,
 * or a key that not every replica answered, is recorded in `failures`.
 */
export async function writeThenReadEverywhere(
  base: string,
  keys: readonly string[],
  rounds: number,
  replicas: number,
): Promise<ReadYourWrites> {
  let stale = 0
  let reads = 0
  for (const key of keys) {
    for (let round = 1; round <= rounds; round++) {
      const written = await http(base, 'POST', '/write', { key, value: `value ${round}` })
      if (written.status !== 200) failures.push(`write ${key} round ${round}: ${written.status}`)
      const version = written.json.version
      const answered = new Set<string>()
      for (let i = 0; i < 40 && answered.size < replicas; i++) {
        const read = await http(base, 'GET', `/read/${encodeURIComponent(key)}`)
        reads++
        answered.add(read.replica)
        if (read.status !== 200 || read.json.version !== version) stale++
      }
      if (answered.size < replicas)
        failures.push(`${key}: only ${answered.size} replicas answered reads`)
    }
  }
  return { stale, reads }
}
