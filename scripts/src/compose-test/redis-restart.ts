import { checkHistory, History, StrataClient } from '@strata/testkit'
import type { Compose } from './compose.js'
import { check, figure, seconds, sleep } from './report.js'

/**
 * Restarts Redis under reads and writes and checks the history (packages/testkit): no stale
 * read, no lost write, every read served, and writes acked again afterwards.
 */
export async function redisRestart(compose: Compose, base: string): Promise<void> {
  const history = new History()
  const client = new StrataClient({ baseUrl: base, history, timeoutMs: 15_000 })
  const keys = Array.from({ length: 20 }, (_, i) => `compose:redis:${i}`)
  let running = true
  const worker = async (n: number) => {
    let i = n
    while (running) {
      const key = keys[i++ % keys.length] as string
      if (i % 5 === 0) await client.write(key, `w${i}`)
      else await client.read(key)
      await sleep(10)
    }
  }
  const workers = [0, 1, 2, 3].map(worker)
  await sleep(4_000)
  const restarted = await compose.run(['restart', 'redis'])
  check(restarted.code === 0, `docker compose restart redis (${seconds(restarted.ms)})`)
  await sleep(10_000)
  running = false
  await Promise.all(workers)
  // The replicas may only run Strata's scripts by SHA, and the restarted Redis started without
  // them: a write is fenced again only if the container loaded them (deploy/redis/start.sh).
  const after = await client.write(keys[0] as string, 'after-restart')
  check(
    after.outcome === 'acked',
    `Redis restart: the scripts were loaded again, writes acked (${after.outcome})`,
  )
  client.close()

  const psql = await compose.must([
    'exec',
    '-T',
    'postgres',
    'psql',
    '-U',
    'strata',
    '-d',
    'strata',
    '-At',
    '-F',
    ' ',
    '-c',
    "SELECT key, GREATEST(r.version, d.version) FROM records r FULL OUTER JOIN deleted_records d USING (key) WHERE key LIKE 'compose:redis:%'",
  ])
  const finalVersions = new Map(
    psql.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [key, version] = line.split(' ')
        return [key as string, Number(version)] as const
      }),
  )
  const result = checkHistory(history, { initialVersions: new Map(), finalVersions })
  const { writes, reads } = result
  figure(
    'Redis restart: history checker',
    `${result.totalViolations} violations; reads ${reads.found + reads.notFound} served, ${reads.failed} failed; ` +
      `writes ${writes.acked} acked, ${writes.refused} refused (503), ${writes.unknown} unknown; ` +
      `stale reads ${result.staleness.stale}`,
  )
  for (const example of result.examples.slice(0, 5))
    console.log(`     ${example.kind}: ${example.message}`)
  check(
    result.totalViolations === 0,
    'Redis restart: no guarantee broken (no stale read, no lost write)',
  )
  check(reads.failed === 0, 'Redis restart: every read was served')
}
