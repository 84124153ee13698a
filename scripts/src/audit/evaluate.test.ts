import { describe, expect, it } from 'vitest'
import { type AllowEntry, evaluateAudit, parseAllowlist, reportAudit } from './evaluate.js'

const TODAY = new Date('2026-03-01T12:00:00Z')

/** What `pnpm audit --json` prints for these advisories (the fields the audit reads, and more). */
const report = (...advisories: Array<Record<string, unknown>>) =>
  JSON.stringify({
    actions: [],
    advisories: Object.fromEntries(advisories.map((a, i) => [String(1000 + i), a])),
    muted: [],
    metadata: { vulnerabilities: {}, dependencies: 1, totalDependencies: 1 },
  })

const advisory = (overrides: Record<string, unknown> = {}) => ({
  id: 1001,
  github_advisory_id: 'GHSA-aaaa-bbbb-cccc',
  module_name: 'left-pad',
  severity: 'high',
  title: 'Prototype pollution',
  url: 'https://github.com/advisories/GHSA-aaaa-bbbb-cccc',
  findings: [{ version: '1.0.0', paths: ['apps__api>left-pad'] }],
  ...overrides,
})

const entry = (overrides: Partial<AllowEntry> = {}): AllowEntry => ({
  id: 'GHSA-aaaa-bbbb-cccc',
  package: 'left-pad',
  reason: 'Only reached from the load generator, never with untrusted input.',
  expires: '2026-06-30',
  ...overrides,
})

describe('evaluateAudit', () => {
  it('passes a clean report', () => {
    expect(evaluateAudit(report(), [], TODAY)).toEqual({
      status: 'passed',
      blocking: [],
      allowed: [],
      expired: [],
      unused: [],
    })
  })

  it('fails on an advisory the allow-list does not cover, and lets an allowed one through', () => {
    const outcome = evaluateAudit(
      report(
        advisory(),
        advisory({ github_advisory_id: 'GHSA-xxxx-yyyy-zzzz', module_name: 'ms' }),
      ),
      [entry()],
      TODAY,
    )
    expect(outcome).toMatchObject({
      status: 'failed',
      blocking: [
        { id: 'GHSA-xxxx-yyyy-zzzz', package: 'ms', severity: 'high', versions: ['1.0.0'] },
      ],
      allowed: [{ finding: { id: 'GHSA-aaaa-bbbb-cccc' }, entry: entry() }],
    })
  })

  it('does not let an entry for one package cover the same advisory in another', () => {
    const outcome = evaluateAudit(report(advisory({ module_name: 'other' })), [entry()], TODAY)
    expect(outcome).toMatchObject({ status: 'failed', unused: [entry()] })
  })

  it('stops honouring an entry after its date, and says so', () => {
    const old = entry({ expires: '2026-02-28' })
    const outcome = evaluateAudit(report(advisory()), [old], TODAY)
    expect(outcome).toMatchObject({ status: 'failed', expired: [old], allowed: [] })
    // The last day still counts.
    expect(
      evaluateAudit(report(advisory()), [entry({ expires: '2026-03-01' })], TODAY).status,
    ).toBe('passed')
  })

  it('ignores info-level notes', () => {
    expect(evaluateAudit(report(advisory({ severity: 'info' })), [], TODAY).status).toBe('passed')
  })

  it('reports an unreachable advisory service as unavailable, not as a pass or a failure', () => {
    // What pnpm prints where the registry does not serve the audit endpoint.
    const refused = JSON.stringify({
      error: {
        code: 'ERR_PNPM_AUDIT_BAD_RESPONSE',
        message:
          'The audit endpoint (at https://registry.npmjs.org/-/npm/v1/security/audits/quick) responded with 405: .',
      },
    })
    const outcome = evaluateAudit(refused, [], TODAY)
    expect(outcome).toEqual({
      status: 'unavailable',
      reason: expect.stringContaining('ERR_PNPM_AUDIT_BAD_RESPONSE'),
    })
    const offline = JSON.stringify({
      error: {
        code: 'ERR_PNPM_META_FETCH_FAIL',
        message: 'getaddrinfo ENOTFOUND registry.npmjs.org',
      },
    })
    expect(evaluateAudit(offline, [], TODAY).status).toBe('unavailable')

    const { lines, exitCode } = reportAudit(outcome)
    expect(exitCode).toBe(0)
    expect(lines.join('\n')).toContain('AUDIT NOT PERFORMED')
    expect(lines.join('\n')).toContain('this is not a pass')
  })

  it('fails on any other pnpm error, or output it cannot read', () => {
    const broken = JSON.stringify({
      error: { code: 'ERR_PNPM_AUDIT_NO_LOCKFILE', message: 'No pnpm-lock.yaml found' },
    })
    // A missing lockfile is the project's problem, not the registry's.
    expect(evaluateAudit(broken, [], TODAY).status).toBe('error')
    expect(evaluateAudit('Segmentation fault', [], TODAY).status).toBe('error')
    expect(evaluateAudit('{"metadata":{}}', [], TODAY).status).toBe('error')
    expect(reportAudit(evaluateAudit('', [], TODAY)).exitCode).toBe(1)
  })

  it('prints each blocking advisory, and exits 1', () => {
    const { lines, exitCode } = reportAudit(evaluateAudit(report(advisory()), [], TODAY))
    expect(exitCode).toBe(1)
    expect(lines[0]).toBe(
      'VULNERABLE high     left-pad@1.0.0 GHSA-aaaa-bbbb-cccc: Prototype pollution https://github.com/advisories/GHSA-aaaa-bbbb-cccc',
    )
  })
})

describe('parseAllowlist', () => {
  it('reads the repository allow-list', async () => {
    const { readFileSync } = await import('node:fs')
    const text = readFileSync(new URL('../../../.ci/audit-allowlist.json', import.meta.url), 'utf8')
    expect(Array.isArray(parseAllowlist(text))).toBe(true)
  })

  it('refuses an entry without a reason or an expiry date', () => {
    expect(() =>
      parseAllowlist(JSON.stringify({ advisories: [{ ...entry(), reason: '' }] })),
    ).toThrow(/advisories\[0\] needs reason/)
    expect(() =>
      parseAllowlist(JSON.stringify({ advisories: [{ ...entry(), expires: 'never' }] })),
    ).toThrow(/expires \(YYYY-MM-DD\)/)
    expect(() => parseAllowlist('{}')).toThrow(/advisories/)
  })
})
