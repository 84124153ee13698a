/**
 * The live dashboard: one self-contained page (inline CSS and script, charts as inline SVG), so
 * it loads nothing but itself and its event stream from the replica that serves it. Rates are
 * computed in the page from consecutive views: a replica's counters and the `updated_at` of the
 * same row, so a row that did not move between two views (a replica that has not flushed yet)
 * keeps its last rates instead of showing zero.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Strata · live cluster view</title>
<style>
:root { --bg: #0f1419; --panel: #171d24; --line: #26303b; --text: #d7dde4; --dim: #8a96a3;
  --ok: #3fb950; --bad: #f85149; --warn: #d29922; font: 14px/1.4 system-ui, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px; background: var(--bg); color: var(--text); }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 13px; margin: 0 0 6px; color: var(--dim); font-weight: 600; }
#status { color: var(--dim); }
#status.live::before { content: '● '; color: var(--ok); }
#status.down::before { content: '● '; color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(125px, 1fr)); gap: 8px; margin: 14px 0; }
.card, .chart { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card b { display: block; font-size: 20px; font-variant-numeric: tabular-nums; }
.card span { color: var(--dim); font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 8px; }
svg { width: 100%; height: 110px; display: block; }
.legend { font-size: 12px; color: var(--dim); display: flex; gap: 10px; flex-wrap: wrap; }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
table { width: 100%; border-collapse: collapse; margin-top: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { color: var(--dim); font-weight: 600; font-size: 12px; }
th:first-child, td:first-child { text-align: left; }
.up { color: var(--ok); } .down { color: var(--bad); } .off { color: var(--dim); }
footer { margin-top: 12px; color: var(--dim); font-size: 12px; }
</style>
</head>
<body data-updates="0">
<header>
  <h1>Strata · live cluster view</h1>
  <span id="status">connecting…</span>
  <span id="source"></span>
</header>
<section class="cards">
  <div class="card"><b data-total="replicas">–</b><span>replicas</span></div>
  <div class="card"><b data-total="rps">–</b><span>requests/s</span></div>
  <div class="card"><b data-total="l1">–</b><span>L1 hit rate</span></div>
  <div class="card"><b data-total="l2">–</b><span>L2 hit rate</span></div>
  <div class="card"><b data-total="db">–</b><span>reads from PostgreSQL</span></div>
  <div class="card"><b data-total="reads">–</b><span>reads served</span></div>
  <div class="card"><b data-total="invalidations">–</b><span>invalidations sent / heard</span></div>
  <div class="card"><b data-total="lag">–</b><span>lag max, last 10 s</span></div>
  <div class="card"><b data-total="sli">–</b><span id="sli-label">consistency (nines)</span></div>
</section>
<section class="charts">
  <div class="chart"><h2>requests/s per replica</h2><svg id="chart-rps" viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div class="legend" id="legend-rps"></div></div>
  <div class="chart"><h2>cluster hit rates, %</h2><svg id="chart-hits" viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div class="legend" id="legend-hits"></div></div>
  <div class="chart"><h2>invalidation lag max per replica, ms</h2><svg id="chart-lag" viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div class="legend" id="legend-lag"></div></div>
</section>
<table>
  <thead><tr><th>replica</th><th>mode</th><th>bus</th><th>req/s</th><th>L1 %</th><th>L2 %</th><th>DB %</th>
  <th>inv. sent</th><th>inv. received</th><th>lag p50 / max ms</th><th>SLI checks / stale</th><th>L1 entries</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<footer>Rates are over the last interval between two flushes of a replica's counters (once a second).
Charts keep the last 5 minutes in this page. "–": not reported.</footer>
<script>
'use strict'
const HISTORY = 300
const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#f778ba', '#a371f7', '#56d4dd', '#f85149', '#e3b341']
const previous = new Map()
const rates = new Map()
const history = { rps: new Map(), lag: new Map(), hits: new Map([['L1', []], ['L2', []], ['DB', []]]) }
let updates = 0

const dash = '–'
const fixed = (n, digits) => (n === null || n === undefined || Number.isNaN(n) ? dash : n.toFixed(digits))
const pct = (part, whole) => (whole > 0 ? (100 * part) / whole : null)
const push = (map, key, value) => {
  if (!map.has(key)) map.set(key, [])
  const list = map.get(key)
  list.push(value)
  if (list.length > HISTORY) list.shift()
}
const delta = (now, before, field) => (now[field] ?? 0) - (before[field] ?? 0)

/** Per-replica rates from this row and the last one seen with an older updated_at. */
function rowRates(row) {
  const before = previous.get(row.replica_id)
  if (!before || row.updated_at <= before.updated_at) return rates.get(row.replica_id)
  previous.set(row.replica_id, row)
  const seconds = (row.updated_at - before.updated_at) / 1000
  const d = (field) => delta(row, before, field)
  const computed = {
    rps: (d('reads') + d('invalidations_sent')) / seconds,
    l1Hits: d('l1_hits'), l1Lookups: d('l1_hits') + d('l1_misses'),
    l2Hits: d('l2_hits'), l2Lookups: d('l2_hits') + d('l2_misses'),
    dbReads: d('db_reads'), reads: d('reads'),
  }
  rates.set(row.replica_id, computed)
  return computed
}

function cell(tr, text, className) {
  const td = document.createElement('td')
  td.textContent = text
  if (className) td.className = className
  tr.append(td)
}

function renderRows(rows) {
  const body = document.getElementById('rows')
  body.replaceChildren()
  for (const row of rows) {
    const r = rates.get(row.replica_id)
    const tr = document.createElement('tr')
    tr.dataset.replica = row.replica_id
    cell(tr, row.replica_id)
    cell(tr, row.cache_mode)
    cell(tr, row.bus_state, row.bus_state)
    cell(tr, r ? fixed(r.rps, 1) : dash)
    cell(tr, fixed(r ? pct(r.l1Hits, r.l1Lookups) : null, 1))
    cell(tr, fixed(r ? pct(r.l2Hits, r.l2Lookups) : null, 1))
    cell(tr, fixed(r ? pct(r.dbReads, r.reads) : null, 1))
    cell(tr, String(row.invalidations_sent))
    cell(tr, String(row.invalidations_received))
    cell(tr, fixed(row.invalidation_lag_p50_ms, 2) + ' / ' + fixed(row.invalidation_lag_max_ms, 2))
    cell(tr, row.consistency_checks === undefined ? dash : row.consistency_checks + ' / ' + (row.consistency_stale ?? dash))
    cell(tr, row.l1_size + ' / ' + row.l1_max_size)
    body.append(tr)
  }
}

function setTotal(name, text) {
  document.querySelector('[data-total="' + name + '"]').textContent = text
}

function renderTotals(view, sums) {
  const t = view.totals
  setTotal('replicas', String(t.replicas))
  setTotal('rps', fixed(sums.rps, 1))
  setTotal('l1', fixed(pct(sums.l1Hits, sums.l1Lookups), 1) + ' %')
  setTotal('l2', fixed(pct(sums.l2Hits, sums.l2Lookups), 1) + ' %')
  setTotal('db', fixed(pct(sums.dbReads, sums.reads), 1) + ' %')
  setTotal('reads', String(t.reads))
  setTotal('invalidations', t.invalidations_sent + ' / ' + t.invalidations_received)
  const lags = view.replicas.map((r) => r.invalidation_lag_max_ms).filter((v) => typeof v === 'number')
  setTotal('lag', lags.length ? Math.max(...lags).toFixed(2) + ' ms' : dash)
  setTotal('sli', typeof t.consistency_nines === 'number' ? t.consistency_nines.toFixed(2) : dash)
  document.getElementById('sli-label').textContent = typeof t.consistency_bound_ms === 'number'
    ? 'consistency (nines within ' + t.consistency_bound_ms + ' ms)' : 'consistency (nines)'
}

function chart(id, series) {
  const svg = document.getElementById(id)
  const max = Math.max(1e-9, ...[...series.values()].flat().filter((v) => v !== null))
  // The x axis spans the history gathered so far (up to 5 minutes), so a new page fills it.
  const slots = Math.max(2, ...[...series.values()].map((values) => values.length))
  const lines = []
  const legend = document.getElementById(id.replace('chart', 'legend'))
  legend.replaceChildren()
  let i = 0
  for (const [name, values] of series) {
    const color = COLORS[i++ % COLORS.length]
    const points = values.map((v, x) => v === null ? null : (300 * (x + slots - values.length) / (slots - 1)).toFixed(1) + ',' + (98 - (96 * v) / max).toFixed(1)).filter(Boolean)
    lines.push('<polyline fill="none" stroke="' + color + '" stroke-width="1.5" vector-effect="non-scaling-stroke" points="' + points.join(' ') + '"/>')
    const item = document.createElement('span')
    const swatch = document.createElement('i')
    swatch.style.background = color
    item.append(swatch, name)
    legend.append(item)
  }
  const top = document.createElement('span')
  top.textContent = 'last ' + slots + ' s · top ' + (max < 10 ? max.toFixed(2) : max.toFixed(0))
  legend.append(top)
  svg.innerHTML = lines.join('')
}

function render(view) {
  const sums = { rps: 0, l1Hits: 0, l1Lookups: 0, l2Hits: 0, l2Lookups: 0, dbReads: 0, reads: 0 }
  const live = new Set()
  for (const row of view.replicas) {
    live.add(row.replica_id)
    if (!previous.has(row.replica_id)) previous.set(row.replica_id, row)
    const r = rowRates(row)
    if (r) for (const key of Object.keys(sums)) sums[key] += r[key]
    push(history.rps, row.replica_id, r ? r.rps : null)
    push(history.lag, row.replica_id, row.invalidation_lag_max_ms ?? null)
  }
  for (const map of [history.rps, history.lag, previous, rates])
    for (const id of [...map.keys()]) if (!live.has(id)) map.delete(id)
  push(history.hits, 'L1', pct(sums.l1Hits, sums.l1Lookups))
  push(history.hits, 'L2', pct(sums.l2Hits, sums.l2Lookups))
  push(history.hits, 'DB', pct(sums.dbReads, sums.reads))
  renderRows(view.replicas)
  renderTotals(view, sums)
  chart('chart-rps', history.rps)
  chart('chart-hits', history.hits)
  chart('chart-lag', history.lag)
  document.getElementById('status').className = 'live'
  document.getElementById('status').textContent = 'live · ' + new Date().toLocaleTimeString() + (view.error ? ' · ' + view.error : '')
  document.body.dataset.updates = String(++updates)
}

function connect() {
  const source = new EventSource('/dashboard/events')
  source.addEventListener('view', (event) => {
    const { replica_id, cluster } = JSON.parse(event.data)
    document.getElementById('source').textContent = 'served by ' + replica_id
    render(cluster)
  })
  source.onerror = () => {
    const status = document.getElementById('status')
    status.className = 'down'
    status.textContent = 'disconnected, retrying…'
    // A refused stream (503: too many dashboards) closes for good: try again a little later.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000)
  }
}
connect()
</script>
</body>
</html>
`
