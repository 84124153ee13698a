import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SCENARIOS } from '../scenarios/index.js'
import { RUN_DEFAULTS, SCENARIO_PARAMS, type ScenarioName } from '../scenarios/params.js'
import { seededRandom } from '../src/random.js'
import { datasetOf } from '../src/scenario.js'
import { parseThreshold } from '../src/thresholds.js'
import { requestsOf } from './lib/mix.ts'
import { k6Options, k6Threshold } from './lib/options.ts'
import { summaryOf } from './lib/summary.ts'

// The k6 scripts cannot run here (k6 is not part of the toolchain): these tests hold what they
// are built from — the shared parameters, the request mix and the options — to the generator's.
const names = Object.keys(SCENARIO_PARAMS) as ScenarioName[]

describe('k6 scripts follow the generator', () => {
  it('have one script per generator scenario, each running its own scenario', () => {
    expect(names.sort()).toEqual(Object.keys(SCENARIOS).sort())
    for (const name of names) {
      const script = new URL(`./${name}.ts`, import.meta.url)
      expect(existsSync(script), `k6/${name}.ts`).toBe(true)
      expect(readFileSync(script, 'utf8')).toContain(`scenarioScript('${name}')`)
    }
  })

  it.each(names)(
    '%s: the generator takes its data set and thresholds from the shared parameters',
    (name) => {
      const scenario = SCENARIOS[name]
      const params = SCENARIO_PARAMS[name]
      expect(scenario?.dataset).toEqual(datasetOf(params))
      expect(scenario?.prime).toBe(params.prime)
      expect(scenario?.thresholds).toEqual(params.thresholds.map(parseThreshold))
    },
  )

  it.each(names)(
    '%s: a k6 user draws the same requests as the generator user of the same seed and index',
    (name) => {
      for (const vu of [0, 5]) {
        const scenario = SCENARIOS[name]
        if (!scenario) throw new Error(`no generator scenario ${name}`)
        const generator = scenario.createUser({ vu, random: seededRandom(7, vu) })
        const k6 = requestsOf(name, vu, seededRandom(7, vu))
        const drawn = { writes: 0, keys: new Set<string>() }
        for (let i = 0; i < 20_000; i++) {
          const { group: _, ...expected } = generator() as { group?: string }
          const request = k6()
          expect(request).toEqual(expected)
          if (request.kind === 'write') drawn.writes++
          drawn.keys.add(request.key)
        }
        // The comparison saw both kinds where the scenario writes, and more than a handful of keys.
        const params = SCENARIO_PARAMS[name]
        const writes =
          'hotKey' in params ? params.hotKey.share * params.hotKey.writeShare : params.writeShare
        expect(drawn.writes / 20_000).toBeCloseTo(writes, 1)
        expect(drawn.keys.size).toBeGreaterThan(1_000)
      }
    },
  )
})

describe('k6 options', () => {
  it('run the generator defaults: a warm-up left out of the thresholds, then the measured window', () => {
    const options = k6Options('read-heavy', {})
    expect(options.scenarios).toEqual({
      warmup: { executor: 'constant-vus', vus: RUN_DEFAULTS.vus, duration: '5s', startTime: '0s' },
      measure: {
        executor: 'constant-vus',
        vus: RUN_DEFAULTS.vus,
        duration: '30s',
        startTime: '5s',
      },
    })
    expect(options.thresholds).toMatchObject({
      'http_req_failed{scenario:measure}': ['rate==0', 'rate>=0'],
      'strata_combined_hit{scenario:measure}': ['rate>0.9', 'rate>=0'],
      'http_req_duration{scenario:measure}': ['p(99)<100', 'max>=0'],
      'strata_l1_hit{scenario:measure}': ['rate>=0'],
      'strata_l2_hit{scenario:measure}': ['rate>=0'],
      'strata_db_read{scenario:measure}': ['rate>=0'],
    })
  })

  it('take VUs, durations and an open-loop rate from the environment', () => {
    const options = k6Options('hot-key', { VUS: '8', WARMUP: '2s', DURATION: '1m', RATE: '500' })
    expect(options.scenarios?.measure).toEqual({
      executor: 'constant-arrival-rate',
      rate: 500,
      timeUnit: '1s',
      duration: '1m',
      preAllocatedVUs: 8,
      startTime: '2s',
    })
    expect(options.thresholds?.['strata_combined_hit{scenario:measure}']).toEqual([
      'rate>0.7',
      'rate>=0',
    ])
  })

  it('translate every scenario threshold, and refuse figures k6 has none of', () => {
    for (const name of names) expect(() => k6Options(name, {})).not.toThrow()
    expect(k6Threshold('l2_hit_rate>=50')).toEqual(['strata_l2_hit{scenario:measure}', 'rate>=0.5'])
    expect(k6Threshold('max_ms<250')).toEqual(['http_req_duration{scenario:measure}', 'max<250'])
    expect(() => k6Threshold('rps>1000')).toThrow(/no k6 equivalent/)
    expect(() => k6Threshold('errors<5')).toThrow(/no k6 equivalent/)
  })
})

describe('k6 summary', () => {
  it('reports the measured window in the generator summary units, with every threshold', () => {
    const measured = (
      values: Record<string, number>,
      thresholds?: Record<string, { ok: boolean }>,
    ) => (thresholds ? { values, thresholds } : { values })
    const summary = summaryOf(
      'read-heavy',
      { VUS: '16' },
      {
        state: { testRunDurationMs: 35_000 },
        metrics: {
          'http_reqs{scenario:measure}': measured({ count: 30_000, rate: 1_000 }),
          'http_req_failed{scenario:measure}': measured({ rate: 0 }, { 'rate==0': { ok: true } }),
          'strata_l1_hit{scenario:measure}': measured({ rate: 0.8 }),
          'strata_l2_hit{scenario:measure}': measured({ rate: 0.75 }),
          'strata_db_read{scenario:measure}': measured({ rate: 0.05 }),
          'strata_combined_hit{scenario:measure}': measured(
            { rate: 0.95 },
            { 'rate>0.9': { ok: true } },
          ),
          'http_req_duration{scenario:measure}': measured(
            { med: 1.5, 'p(95)': 4, 'p(99)': 120.25, max: 300 },
            { 'p(99)<100': { ok: false } },
          ),
        },
      },
    )
    expect(summary).toMatchObject({
      scenario: 'read-heavy',
      vus: 16,
      requests: 30_000,
      rps: 1_000,
      error_rate: 0,
      l1_hit_rate: 80,
      l2_hit_rate: 75,
      db_read_rate: 5,
      combined_hit_rate: 95,
      latency_ms: { p50: 1.5, p95: 4, p99: 120.25, max: 300 },
      passed: false,
    })
    expect(summary.thresholds).toHaveLength(3)
  })
})
