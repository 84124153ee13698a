/**
 * `pnpm audit:ci`: runs `pnpm audit` and fails on any advisory not in .ci/audit-allowlist.json.
 * When the advisory service cannot be reached it says so plainly and exits 0: the build does not
 * fail for the registry's sake, and the output never pretends the dependencies were checked.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { evaluateAudit, parseAllowlist, reportAudit } from './audit/evaluate.js'

const HELP = `Usage: pnpm audit:ci

Runs \`pnpm audit --json\` over the whole workspace and judges it against .ci/audit-allowlist.json:
  exit 1  an advisory (low or above) that no unexpired allow-list entry covers, or pnpm failed
  exit 0  none, or the advisory service could not be reached (printed as AUDIT NOT PERFORMED)
Allow-list entries: {"id": "GHSA-…", "package": "name", "reason": "why it does not apply", "expires": "YYYY-MM-DD"}.`

function main(): number {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(HELP)
    return 0
  }
  const allowlistFile = resolve(REPO_ROOT, '.ci/audit-allowlist.json')
  let allowlist: ReturnType<typeof parseAllowlist>
  try {
    allowlist = parseAllowlist(readFileSync(allowlistFile, 'utf8'))
  } catch (error) {
    console.error(`audit: ${allowlistFile}: ${(error as Error).message}`)
    return 1
  }
  console.log(`Running pnpm audit (allow-list: ${allowlist.length} entries)`)
  const run = spawnSync('pnpm', ['audit', '--json'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  })
  if (run.error) {
    console.error(`audit: could not run pnpm: ${run.error.message}`)
    return 1
  }
  const { lines, exitCode } = reportAudit(evaluateAudit(run.stdout, allowlist, new Date()))
  for (const line of lines) console.log(line)
  return exitCode
}

process.exitCode = main()
