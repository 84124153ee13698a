import { describe, expect, it } from 'vitest'
import { cpuMillis } from './processes.js'

/** Spins until this process has used `ms` more milliseconds of CPU (its own count, getrusage). */
function spinCpu(ms: number): void {
  const start = process.cpuUsage()
  for (;;) {
    const used = process.cpuUsage(start)
    if ((used.user + used.system) / 1000 >= ms) return
  }
}

describe.skipIf(process.platform !== 'linux')('cpuMillis', () => {
  it('measures finer than the 10 ms clock tick', () => {
    const before = cpuMillis([process.pid])
    spinCpu(20)
    const after = cpuMillis([process.pid])
    // At least most of the spin (the running thread's count may lag by a scheduler tick), and
    // nowhere near a second.
    expect(after - before).toBeGreaterThan(10)
    expect(after - before).toBeLessThan(1_000)
    // Clock ticks only ever sum to whole multiples of 10 ms; nanoseconds essentially never do.
    expect(after % 10).not.toBe(0)
  })
})
