import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { figures } from './report.js'

/**
 * Writes this run's figures into docs/docker.md, between the markers of its kind, so the page
 * shows what the command measured and nothing typed by hand. The README's summary comes from the
 * single-server runs (cold and warm) only.
 */
export function updateDocs(repo: string, kind: 'cold' | 'warm' | 'cluster'): void {
  const file = resolve(repo, 'docs/docker.md')
  const begin = `<!-- compose-test figures: ${kind} -->`
  const end = `<!-- /compose-test figures: ${kind} -->`
  const text = readFileSync(file, 'utf8')
  const from = text.indexOf(begin)
  const to = text.indexOf(end)
  if (from < 0 || to < from) throw new Error(`docs/docker.md lacks the markers ${begin} … ${end}`)
  const day = new Date().toISOString().slice(0, 10)
  const command = kind === 'cluster' ? 'pnpm compose:test --redis cluster' : 'pnpm compose:test'
  const table = [
    `Measured ${day} by \`STRATA_COMPOSE_UPDATE_DOCS=1 ${command}\` (${kind} run):`,
    '',
    '| what | figure |',
    '| --- | --- |',
    ...figures.map(([name, value]) => `| ${name} | ${value} |`),
  ].join('\n')
  writeFileSync(file, `${text.slice(0, from + begin.length)}\n${table}\n${text.slice(to)}`)
  console.log(`  written into docs/docker.md (${kind})`)
  if (kind !== 'cluster') updateReadmeSummary(repo)
}

/** The README's Docker section: one paragraph from the last cold and warm runs' figures. */
function updateReadmeSummary(repo: string): void {
  const read = (kind: string): Record<string, string> | undefined => {
    try {
      const json = readFileSync(resolve(repo, `.data/compose-test/figures-${kind}.json`), 'utf8')
      return JSON.parse(json) as Record<string, string>
    } catch {
      return undefined
    }
  }
  const cold = read('cold')
  const warm = read('warm')
  const last = warm ?? cold
  if (!last) return
  const f = (name: string) => last[name] ?? '?'
  const builds = [
    cold && `${cold['build api + loadtest images']} cold`,
    warm && `${warm['build api + loadtest images']} warm (nothing changed)`,
  ].filter(Boolean)
  const totals = [
    cold && `${cold['compose:test in all']} on a fresh machine`,
    warm && `${warm['compose:test in all']} warm`,
  ].filter(Boolean)
  const summary = [
    `Build of both images: ${builds.join(', ')}. API image: ${f('image size localhost/strata-api:latest')}.`,
    `A new replica takes traffic ${f('scale 3→5: container started until it took traffic (max)')} after its container starts.`,
    `Failed requests: scaling 3 → 5 under load, ${f('scale 3→5: failed requests')}; scaling 5 → 2,`,
    `${f('scale 5→2: failed requests')}; \`docker kill\` of a replica, ${f('docker kill: failed GETs')} GETs.`,
    `Redis restart, history checker: ${f('Redis restart: history checker')}.`,
    `The whole command: ${totals.join(', ')}.`,
  ].join('\n')
  const file = resolve(repo, 'README.md')
  const text = readFileSync(file, 'utf8')
  const begin = '<!-- compose-test summary -->'
  const end = '<!-- /compose-test summary -->'
  const from = text.indexOf(begin)
  const to = text.indexOf(end)
  if (from < 0 || to < from) throw new Error(`README.md lacks the markers ${begin} … ${end}`)
  writeFileSync(file, `${text.slice(0, from + begin.length)}\n${summary}\n${text.slice(to)}`)
  console.log('  written into README.md (Docker Compose)')
}
