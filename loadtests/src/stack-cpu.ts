import { cpuMillis } from '@strata/stack/processes'
import type { RunningStack } from '@strata/stack/running-stack'

/** The roles of a stack whose CPU time is accounted for, each with its children (from /proc). */
export const CPU_ROLES = ['replica', 'nginx', 'redis', 'postgres'] as const
export type CpuRole = (typeof CPU_ROLES)[number]

export type CpuByRole = Record<CpuRole, number>

/** CPU time each role of the stack has used so far, ms (process and direct children). */
export const cpuByRole = (stack: RunningStack): CpuByRole =>
  Object.fromEntries(
    CPU_ROLES.map((role) => [role, cpuMillis(stack.pids[role] ?? [])]),
  ) as CpuByRole

/**
 * CPU µs per request of each role between two readings. `windowS` is the time between the
 * readings and `durationS` the measured window the requests were counted over: the readings
 * bracket the window a little late (the last one follows the final answers), so the time is
 * scaled to the window.
 */
export function cpuPerRequest(
  before: CpuByRole,
  after: CpuByRole,
  requests: number,
  durationS: number,
  windowS: number,
): CpuByRole {
  const scale = windowS > 0 ? durationS / windowS : 1
  return Object.fromEntries(
    CPU_ROLES.map((role) => [
      role,
      requests === 0
        ? 0
        : Math.round(((after[role] - before[role]) * 1000 * scale * 10) / requests) / 10,
    ]),
  ) as CpuByRole
}
