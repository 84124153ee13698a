import type { Sql } from 'postgres'
import { expect } from 'vitest'
import { ERROR_STATUS } from '../../src/errors.js'

/** What PostgreSQL holds: every row and every deletion's version. */
export interface DataSnapshot {
  records: Map<string, { value: string; version: number }>
  deleted: Map<string, number>
}

/** Reads both tables straight from PostgreSQL. */
export async function snapshotData(sql: Sql): Promise<DataSnapshot> {
  const [records, deleted] = await Promise.all([
    sql<{ key: string; value: string; version: string }[]>`SELECT key, value, version FROM records`,
    sql<{ key: string; version: string }[]>`SELECT key, version FROM deleted_records`,
  ])
  return {
    records: new Map(records.map((r) => [r.key, { value: r.value, version: Number(r.version) }])),
    deleted: new Map(deleted.map((d) => [d.key, Number(d.version)])),
  }
}

/** The keys whose row or deletion differs between two snapshots. */
export function changedKeys(before: DataSnapshot, after: DataSnapshot): string[] {
  const keys = new Set([
    ...before.records.keys(),
    ...after.records.keys(),
    ...before.deleted.keys(),
    ...after.deleted.keys(),
  ])
  return [...keys].filter((key) => {
    const a = before.records.get(key)
    const b = after.records.get(key)
    return (
      a?.value !== b?.value ||
      a?.version !== b?.version ||
      before.deleted.get(key) !== after.deleted.get(key)
    )
  })
}

/** The version a key's next write gets: one past its row, or past its deletion. */
export const nextVersion = (data: DataSnapshot, key: string): number =>
  (data.records.get(key)?.version ?? data.deleted.get(key) ?? 0) + 1

/** Request ids the API generates or echoes: never arbitrary client text. */
export const SAFE_REQUEST_ID = /^[\w.:-]{1,128}$/

/** The parts of a response the oracle needs. */
export interface Answer {
  status: number
  contentType: string | null
  requestId: string | null
  body: string
}

/** The error body, checked: JSON, `success: false`, a known code whose status is the one sent. */
export function expectErrorAnswer(answer: Answer, method: string, context: string): string {
  expect(answer.status, context).toBeGreaterThanOrEqual(400)
  expect(answer.status, `no 5xx: ${context}`).toBeLessThan(500)
  expect(answer.contentType, context).toMatch(/^application\/json\b/)
  if (method === 'HEAD') return ''
  let parsed: { success?: unknown; error?: { code?: unknown; message?: unknown } }
  try {
    parsed = JSON.parse(answer.body)
  } catch {
    throw new Error(
      `a ${answer.status} with a body that is not JSON: ${answer.body.slice(0, 200)}\n${context}`,
    )
  }
  expect(parsed.success, context).toBe(false)
  const code = parsed.error?.code
  expect(typeof code, context).toBe('string')
  expect(Object.keys(ERROR_STATUS), context).toContain(code)
  expect(
    ERROR_STATUS[code as keyof typeof ERROR_STATUS],
    `status of ${String(code)}: ${context}`,
  ).toBe(answer.status)
  expect(typeof parsed.error?.message, context).toBe('string')
  expect(answer.body, `no stack trace: ${context}`).not.toMatch(/\bat .+\.(ts|js):\d+/)
  return code as string
}
