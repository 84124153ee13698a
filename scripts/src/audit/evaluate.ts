/**
 * The dependency audit's verdict: `pnpm audit --json` output judged against the allow-list
 * (.ci/audit-allowlist.json). Pure functions, so every outcome is tested without a registry.
 */

/** Severities pnpm reports; `info` is not a vulnerability and never fails the build. */
const SEVERITIES = ['info', 'low', 'moderate', 'high', 'critical'] as const
export type Severity = (typeof SEVERITIES)[number]

/** One advisory that applies to an installed package. */
export interface Finding {
  /** GitHub advisory id (`GHSA-…`), or pnpm's numeric id when there is none. */
  id: string
  package: string
  severity: Severity
  title: string
  url: string
  /** Installed versions that are affected. */
  versions: string[]
}

/** An advisory accepted on purpose: why it does not matter here, and until when that holds. */
export interface AllowEntry {
  id: string
  package: string
  reason: string
  /** `YYYY-MM-DD`; after it the entry no longer applies and must be reviewed. */
  expires: string
}

/** What the audit concluded. */
export type AuditOutcome =
  /** The advisory service could not be asked: nothing was checked, and nothing is claimed. */
  | { status: 'unavailable'; reason: string }
  /** pnpm failed for another reason (a broken lockfile, unreadable output): the build fails. */
  | { status: 'error'; reason: string }
  | {
      status: 'passed' | 'failed'
      /** Findings no valid allow-list entry covers: any one of them fails the build. */
      blocking: Finding[]
      /** Findings covered by an allow-list entry. */
      allowed: Array<{ finding: Finding; entry: AllowEntry }>
      /** Entries past their date: they cover nothing until renewed or removed. */
      expired: AllowEntry[]
      /** Entries that matched no finding: candidates for removal. */
      unused: AllowEntry[]
    }

/** pnpm error codes, and network error words, that mean the advisory service did not answer. */
const UNREACHABLE =
  /ERR_PNPM_AUDIT_BAD_RESPONSE|ERR_PNPM_AUDIT_ENDPOINT_NOT_EXISTS|ERR_PNPM_\w*FETCH|ECONNREFUSED|ECONNRESET|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|socket hang up|network/i

interface PnpmAdvisory {
  id?: number
  github_advisory_id?: string
  module_name?: string
  severity?: string
  title?: string
  url?: string
  findings?: Array<{ version?: string }>
}

/** Judges `pnpm audit --json`'s standard output against the allow-list, on date `today`. */
export function evaluateAudit(stdout: string, allowlist: AllowEntry[], today: Date): AuditOutcome {
  let report: {
    error?: { code?: string; message?: string }
    advisories?: Record<string, PnpmAdvisory>
  }
  try {
    report = JSON.parse(stdout)
  } catch {
    const excerpt = stdout.trim().slice(0, 300)
    return {
      status: UNREACHABLE.test(excerpt) ? 'unavailable' : 'error',
      reason: `pnpm audit did not print a JSON report: ${excerpt || '(no output)'}`,
    }
  }
  if (report.error) {
    const reason = `${report.error.code ?? 'error'}: ${report.error.message ?? ''}`.trim()
    return { status: UNREACHABLE.test(reason) ? 'unavailable' : 'error', reason }
  }
  if (typeof report.advisories !== 'object' || report.advisories === null) {
    return { status: 'error', reason: 'pnpm audit printed JSON without an advisories object' }
  }

  const day = today.toISOString().slice(0, 10)
  const expired = allowlist.filter((entry) => entry.expires < day)
  const valid = allowlist.filter((entry) => entry.expires >= day)
  const used = new Set<AllowEntry>()
  const blocking: Finding[] = []
  const allowed: Array<{ finding: Finding; entry: AllowEntry }> = []
  for (const advisory of Object.values(report.advisories)) {
    const finding = toFinding(advisory)
    if (finding.severity === 'info') continue
    const entry = valid.find((e) => e.id === finding.id && e.package === finding.package)
    if (entry) {
      used.add(entry)
      allowed.push({ finding, entry })
    } else blocking.push(finding)
  }
  return {
    status: blocking.length > 0 ? 'failed' : 'passed',
    blocking,
    allowed,
    expired,
    unused: valid.filter((entry) => !used.has(entry)),
  }
}

function toFinding(advisory: PnpmAdvisory): Finding {
  const severity = SEVERITIES.find((s) => s === advisory.severity) ?? 'critical'
  return {
    id: advisory.github_advisory_id || String(advisory.id ?? '?'),
    package: advisory.module_name ?? '?',
    severity,
    title: advisory.title ?? '',
    url: advisory.url ?? '',
    versions: [...new Set((advisory.findings ?? []).map((f) => f.version ?? '?'))],
  }
}

/**
 * Parses and checks the allow-list file's content: every entry needs an id, a package, a reason
 * and an expiry date, so nothing is accepted silently or forever.
 */
export function parseAllowlist(text: string): AllowEntry[] {
  const parsed = JSON.parse(text) as { advisories?: unknown }
  if (!Array.isArray(parsed.advisories)) throw new Error('expected {"advisories": [...]}')
  return parsed.advisories.map((raw, index) => {
    const entry = raw as Partial<AllowEntry>
    const problems = [
      typeof entry.id === 'string' && entry.id !== '' ? '' : 'id',
      typeof entry.package === 'string' && entry.package !== '' ? '' : 'package',
      typeof entry.reason === 'string' && entry.reason.trim().length >= 10
        ? ''
        : 'reason (a sentence)',
      typeof entry.expires === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(entry.expires)
        ? ''
        : 'expires (YYYY-MM-DD)',
    ].filter(Boolean)
    if (problems.length > 0) {
      throw new Error(`advisories[${index}] needs ${problems.join(', ')}`)
    }
    return entry as AllowEntry
  })
}

/** The lines CI prints for an outcome, and the exit code: 0 unless something must be fixed. */
export function reportAudit(outcome: AuditOutcome): { lines: string[]; exitCode: number } {
  if (outcome.status === 'unavailable') {
    return {
      exitCode: 0,
      lines: [
        'AUDIT NOT PERFORMED: the advisory service could not be reached or refused the request.',
        `  ${outcome.reason}`,
        '  No dependency was checked; this is not a pass. Run `pnpm audit:ci` where the npm',
        '  registry advisory endpoint answers.',
      ],
    }
  }
  if (outcome.status === 'error') {
    return { exitCode: 1, lines: [`AUDIT FAILED TO RUN: ${outcome.reason}`] }
  }
  const describe = (f: Finding) =>
    `${f.severity.padEnd(8)} ${f.package}@${f.versions.join(',')} ${f.id}: ${f.title} ${f.url}`.trimEnd()
  const lines: string[] = []
  for (const finding of outcome.blocking) lines.push(`VULNERABLE ${describe(finding)}`)
  for (const { finding, entry } of outcome.allowed) {
    lines.push(
      `allowed    ${describe(finding)}`,
      `           until ${entry.expires}: ${entry.reason}`,
    )
  }
  for (const entry of outcome.expired) {
    lines.push(
      `EXPIRED    allow-list entry ${entry.id} (${entry.package}) ended ${entry.expires}: review it`,
    )
  }
  for (const entry of outcome.unused) {
    lines.push(
      `unused     allow-list entry ${entry.id} (${entry.package}) matches no advisory: remove it`,
    )
  }
  lines.push(
    outcome.status === 'passed'
      ? `audit passed: no advisory outside the allow-list (${outcome.allowed.length} allowed)`
      : `audit FAILED: ${outcome.blocking.length} advisory(ies) not in .ci/audit-allowlist.json`,
  )
  return { exitCode: outcome.status === 'passed' ? 0 : 1, lines }
}
