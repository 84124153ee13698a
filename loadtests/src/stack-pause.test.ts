import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeStackPorts } from '@strata/stack/ports'
import { withChildren } from '@strata/stack/processes'
import type { RunningStack } from '@strata/stack/running-stack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pauseStack, resumeStack, stackDown, stackUp } from './stack-client.js'

/** The state letter of /proc/<pid>/stat (`T`: stopped by a signal); `gone` once it has exited. */
function stateOf(pid: number): string {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return 'gone'
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}

/** States of `pids` once none is still on its way to `wanted` (a signal lands asynchronously). */
async function settledStates(
  pids: number[],
  wanted: (state: string) => boolean,
): Promise<string[]> {
  const deadline = Date.now() + 10_000
  let states = pids.map(stateOf)
  while (!states.every((state) => wanted(state) || state === 'gone') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    states = pids.map(stateOf)
  }
  return states.filter((state) => state !== 'gone')
}

// What loadtest:compare does with the stacks it is not measuring; /proc is how it finds children.
describe.skipIf(process.platform !== 'linux')('pausing a stack between measurements', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'strata-pause-'))
  // PostgreSQL runs as the `postgres` user when we are root: it must be able to enter the directory.
  chmodSync(workDir, 0o755)
  const logFile = join(workDir, 'stack.log')
  let stack: RunningStack

  beforeAll(async () => {
    const ports = await freeStackPorts(2, 24_500)
    stack = await stackUp({
      dataDir: join(workDir, 'stack'),
      mode: 'multi',
      lb: 'round-robin',
      replicas: 2,
      ports,
      env: process.env,
      logFile,
    })
  }, 180_000)

  afterAll(async () => {
    if (stack) await resumeStack(stack, 5_000).catch(() => {})
    await stackDown(join(workDir, 'stack'), process.env, logFile).catch(() => {})
    rmSync(workDir, { recursive: true, force: true })
  }, 120_000)

  it('stops every process and its children, then resumes them with L1 serving again', async () => {
    const everyPid = () => withChildren(Object.values(stack.pids).flat())
    // nginx's workers and PostgreSQL's backends are there, not only the processes started.
    expect(everyPid().length).toBeGreaterThan(Object.values(stack.pids).flat().length)

    const pids = everyPid()
    pauseStack(stack)
    const paused = await settledStates(pids, (state) => state === 'T')
    expect(paused).toEqual(paused.map(() => 'T'))
    const answer = await fetch(`${stack.nginxUrl}/health`, {
      signal: AbortSignal.timeout(500),
    }).catch((error: unknown) => error)
    expect(answer).toBeInstanceOf(Error)

    await resumeStack(stack)
    expect(await settledStates(everyPid(), (state) => state !== 'T')).not.toContain('T')
    for (const replica of stack.replicas) {
      const health = (await (await fetch(`${replica.url}/health`)).json()) as {
        checks: { l1: string }
      }
      expect(health.checks.l1).toBe('serving')
    }
    const read = await fetch(`${stack.nginxUrl}/read/pause-probe`)
    expect(read.status).toBe(404)
  }, 60_000)
})
