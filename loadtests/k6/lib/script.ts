import http from 'k6/http'
import { Rate } from 'k6/metrics'
import { RUN_DEFAULTS, type ScenarioName } from '../../scenarios/params.ts'
import { seededRandom } from '../../src/random.ts'
import { requestsOf } from './mix.ts'
import { type K6Env, k6Options, TIER_METRICS } from './options.ts'
import { type K6SummaryData, summaryOf } from './summary.ts'

/**
 * What each `k6/<scenario>.ts` exports: its options, one request per iteration, and the JSON
 * summary. Runs in k6 only (`k6/http`, `k6/metrics`, `__ENV`, `__VU`).
 */
export function scenarioScript(name: ScenarioName) {
  const env = __ENV as K6Env
  const base = (env.BASE_URL ?? 'http://localhost:8005').replace(/\/+$/, '')
  const seed = Number(env.SEED ?? 1)
  // `__VU` counts from 1, the generator's users from 0: user `vu` draws what the generator's
  // user `vu` draws with the same seed. (In the init run that reads the options, `__VU` is 0.)
  const next = requestsOf(name, Math.max(0, __VU - 1), seededRandom(seed, Math.max(0, __VU - 1)))
  const tiers = {
    l1: new Rate(TIER_METRICS.l1),
    l2: new Rate(TIER_METRICS.l2),
    db: new Rate(TIER_METRICS.db),
    combined: new Rate(TIER_METRICS.combined),
  }
  const timeout = `${RUN_DEFAULTS.requestTimeoutSeconds}s`

  function iteration(): void {
    const request = next()
    if (request.kind === 'write') {
      http.post(`${base}/write`, JSON.stringify({ key: request.key, value: request.value }), {
        timeout,
        headers: { 'Content-Type': 'application/json' },
        tags: { name: 'POST /write', kind: 'write' },
      })
      return
    }
    // One name for every key, so k6 keeps one series per endpoint, not one per key.
    const response = http.get(`${base}/read/${encodeURIComponent(request.key)}`, {
      timeout,
      tags: { name: 'GET /read/{key}', kind: 'read' },
    })
    const level = response.headers['X-Cache-Level']
    if (response.status !== 200 || level === undefined) return
    tiers.l1.add(level === 'L1')
    if (level !== 'L1') tiers.l2.add(level === 'L2')
    tiers.db.add(level === 'DB')
    tiers.combined.add(level !== 'DB')
  }

  function handleSummary(data: K6SummaryData): Record<string, string> {
    const summary = summaryOf(name, env, data)
    const { k6: _, ...figures } = summary
    return {
      [env.SUMMARY ?? `k6-${name}-summary.json`]: JSON.stringify(summary, null, 2),
      stdout: `${JSON.stringify(figures, null, 2)}\n`,
    }
  }

  return { options: k6Options(name, env), iteration, handleSummary }
}
