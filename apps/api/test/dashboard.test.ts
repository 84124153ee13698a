import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { read, startCluster, write } from './harness.js'

// The Grafana dashboard in deploy/grafana names metrics by hand: every name it queries must be
// one a replica really serves, or its panel stays empty without a word.

const {
  replicas: [a, b],
} = await startCluster({ REPLICA_ID: 'replica-a' }, { REPLICA_ID: 'replica-b' })

const dashboard = JSON.parse(
  readFileSync(new URL('../../../deploy/grafana/strata.json', import.meta.url), 'utf8'),
) as Dashboard

interface Panel {
  title: string
  type: string
  datasource?: unknown
  targets?: { expr: string }[]
  panels?: Panel[]
}
interface Dashboard {
  panels: Panel[]
  templating: { list: { name: string; type: string; definition?: string }[] }
}

/** Words of PromQL that are neither functions (always followed by `(`) nor metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool'])
const KEYWORDS_BINARY = new Set(['and', 'or', 'unless', 'offset', 'atan2'])

/**
 * The metric names a PromQL expression reads: label matchers, ranges, grouping clauses and
 * strings taken out, then every identifier that is not a function call or a keyword.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = new Set<string>()
  for (const match of bare.matchAll(/(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\()?)/g)) {
    const [name, call] = match
    if (call || KEYWORDS.has(name) || KEYWORDS_BINARY.has(name)) continue
    names.add(name)
  }
  return [...names]
}

/** Metric families in a Prometheus text exposition, by name, with their type. */
function families(exposition: string): Map<string, string> {
  const byName = new Map<string, string>()
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm))
    byName.set(name as string, type as string)
  return byName
}

/** Whether `name` is served: a family, or a histogram's or summary's series. */
function served(name: string, byName: Map<string, string>): boolean {
  if (byName.has(name)) return true
  const family = name.replace(/_(?:bucket|sum|count)$/, '')
  const type = byName.get(family)
  return family !== name && (type === 'histogram' || type === 'summary')
}

const allPanels = (panels: Panel[]): Panel[] =>
  panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])])

/** Every query of the dashboard: each panel target's, and the replica variable's. */
function queries(): { where: string; expr: string }[] {
  const fromPanels = allPanels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: panel.title, expr: target.expr })),
  )
  const fromVariables = dashboard.templating.list.flatMap((variable) =>
    variable.type === 'query' && variable.definition
      ? // label_values(metric, label): only its first argument is a metric.
        [{ where: `$${variable.name}`, expr: variable.definition.replace(/,[^)]*\)/, ')') }]
      : [],
  )
  return [...fromPanels, ...fromVariables]
}

/** Reads, writes heard by the other replica, and a clear: every family gets a series. */
async function traffic(): Promise<void> {
  const heard = new Promise<void>((resolve) =>
    a.deps.cache.events.on('invalidation-lag', ({ type }) => type === 'invalidate' && resolve()),
  )
  await write(b, 'dash-key', 'one')
  await heard
  await read(a, 'dash-key')
  await read(a, 'dash-key')
  await read(a, 'dash-missing')
}

describe('strata_invalidation_lag_seconds', () => {
  it('observes on a replica a write published by another', async () => {
    const metrics = () => a.request('/metrics').then((response) => response.text())
    const count = (text: string) =>
      Number(
        text.match(
          /^strata_invalidation_lag_seconds_count\{replica="replica-a",type="invalidate"\} (\d+)$/m,
        )?.[1],
      )
    const before = count(await metrics())
    // Until a write is heard the series is there, at 0, so that rate() starts from it.
    expect(before).toBe(0)
    await traffic()
    const text = await metrics()
    expect(count(text)).toBe(before + 1)
    // Two processes on one clock: the lag is the real delivery time, far under the top bucket.
    expect(text).toMatch(
      /^strata_invalidation_lag_seconds_bucket\{le="10",replica="replica-a",type="invalidate"\} 1$/m,
    )
    // The writer hears nothing of its own.
    const own = await (await b.request('/metrics')).text()
    expect(own).toMatch(/^strata_invalidation_lag_seconds_count\{[^}]*type="invalidate"\} 0$/m)
  })
})

describe('the Grafana dashboard', () => {
  it('finds the metric names in a query, and not its functions, labels or ranges', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket{replica=~"$replica", a="b"}[$__rate_interval]))) / ignoring(level) group_left sum(y_total offset 5m) and on(z) up',
      ).sort(),
    ).toEqual(['up', 'x_seconds_bucket', 'y_total'])
    // What makes the test below fail: a panel that names a metric nobody serves.
    const byName = families('# TYPE x_seconds histogram\n# TYPE y_total counter\n')
    expect(served('x_seconds_bucket', byName)).toBe(true)
    expect(served('y_total_count', byName)).toBe(false)
    expect(served('strata_no_such_total', byName)).toBe(false)
  })

  it('queries only metrics a replica serves on /metrics', async () => {
    await traffic()
    const byName = families(await (await a.request('/metrics')).text())
    const named = queries().flatMap(({ where, expr }) =>
      metricNames(expr).map((name) => ({ where, name })),
    )
    expect(named.length).toBeGreaterThan(20)
    expect(named.filter(({ name }) => !served(name, byName))).toEqual([])
  })

  it('has a panel for each figure operators watch, on a chosen Prometheus', () => {
    const exprs = queries()
      .map(({ expr }) => expr)
      .join('\n')
    for (const name of [
      'strata_http_request_duration_seconds_count',
      'strata_cache_reads_total',
      'strata_invalidations_sent_total',
      'strata_invalidations_received_total',
      'strata_bus_connected',
      'strata_bus_lease_lapses_total',
      'strata_redis_errors_total',
      'strata_invalidation_lag_seconds_bucket',
      'strata_l1_bytes',
      'nodejs_heap_size_used_bytes',
      'process_resident_memory_bytes',
    ]) {
      expect(exprs).toContain(name)
    }
    // Each panel reads the Prometheus picked in the dashboard's `datasource` variable.
    for (const panel of allPanels(dashboard.panels).filter((p) => p.type !== 'row')) {
      expect(panel.datasource, panel.title).toEqual({
        type: 'prometheus',
        uid: expect.stringMatching(/^\$\{datasource\}$/),
      })
    }
  })
})
