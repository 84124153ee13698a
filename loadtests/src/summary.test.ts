import { describe, expect, it } from 'vitest'
import { PhaseStats } from './stats.js'
import { formatSummary, summarize } from './summary.js'
import { parseThreshold } from './thresholds.js'

/** A measured phase with every kind of outcome: tiers, groups, replicas, errors, a slow tail. */
function phase(): PhaseStats {
  const stats = new PhaseStats()
  const levels = ['L1', 'L1', 'L1', 'L2', 'DB'] as const
  for (let i = 0; i < 1_000; i++) {
    const started = i * 2
    const level = levels[i % levels.length] as string
    const ms = level === 'L1' ? 0.5 + (i % 7) / 10 : level === 'L2' ? 2 + (i % 5) : 20 + (i % 30)
    const result = { status: 200, cacheLevel: level, replicaId: `replica-${(i % 3) + 1}`, body: '' }
    if (i % 10 === 9)
      stats.recordResponse(
        'write',
        { ...result, cacheLevel: undefined },
        started,
        started + 40 + (i % 50),
        false,
      )
    else stats.recordResponse('read', result, started, started + ms, false, i % 4 ? '#2-10' : '#1')
  }
  stats.recordResponse(
    'read',
    { status: 503, cacheLevel: undefined, replicaId: undefined, body: '' },
    10,
    12,
    false,
  )
  stats.recordResponse(
    'read',
    { status: 404, cacheLevel: 'DB', replicaId: 'replica-1', body: '' },
    14,
    15,
    false,
  )
  stats.recordFailure('write', 'timeout', 'no answer in 10 s', 20, 10_020)
  stats.dropped = 3
  return stats
}

const input = (thresholds: string[]) => ({
  scenario: 'read-heavy',
  target: 'http://127.0.0.1:8080',
  startedAt: new Date('2026-12-04T12:00:00Z'),
  vus: 8,
  warmupMs: 1_000,
  stats: phase(),
  series: [400, 500],
  thresholds: thresholds.map(parseThreshold),
  aborted: false,
  prime: { keys: 100, seconds: 0.5, errors: 0 },
  rate: 500,
})

describe('summarize and formatSummary', () => {
  it('summarize a phase: figures, tiers, the slow tail, groups, errors, the text', () => {
    const summary = summarize(input(['errors==0', 'combined_hit_rate>50']))
    // As JSON text, so that the order of the keys (that of summary.json) is checked too.
    expect(JSON.stringify(summary, null, 1)).toMatchSnapshot()
    expect(formatSummary(summary)).toMatchSnapshot()
  })

  it('pass when every threshold holds, and say so', () => {
    const summary = summarize(input(['combined_hit_rate>50']))
    expect(summary.passed).toBe(true)
    expect(formatSummary(summary).endsWith('  PASSED')).toBe(true)
  })
})
