import { execFile } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../src/stack/config.js'
import type { StackState } from '../src/stack/state.js'
import {
  freeStackPorts,
  liveGroupMembers,
  makeDataDir,
  processRuns,
  type StackPorts,
  testEnvironment,
} from './helpers.js'

/** Runs `tsx scripts/src/stack.ts <args>` as `pnpm stack` does, and collects its exit code and output. */
function stackCli(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      join(REPO_ROOT, 'node_modules/.bin/tsx'),
      [join(REPO_ROOT, 'scripts/src/stack.ts'), ...args],
      { cwd: REPO_ROOT, env: testEnvironment(), timeout: 150_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, output: `${stdout}${stderr}` })
      },
    )
  })
}

describe('pnpm stack up | status | down', () => {
  let dataDir: string
  let ports: StackPorts
  let flags: string[]

  beforeAll(async () => {
    dataDir = makeDataDir()
    ports = await freeStackPorts(3)
    flags = [
      '--data-dir',
      dataDir,
      '--nginx-port',
      String(ports.nginxPort),
      '--replica-port-base',
      String(ports.replicaPortBase),
      '--redis-port',
      String(ports.redisPort),
      '--postgres-port',
      String(ports.postgresPort),
    ]
  })
  afterAll(async () => {
    // Whatever a failed assertion left running must not outlive the test run.
    await stackCli(['down', '--data-dir', dataDir])
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('starts a background stack, reports it, and down leaves no process behind', async () => {
    const up = await stackCli(['up', ...flags])
    expect(up.code, up.output).toBe(0)
    expect(up.output).toContain('Strata is up')
    expect(up.output).toContain(`http://127.0.0.1:${ports.nginxPort}`)
    expect(up.output).toContain('/clear-cache is disabled')

    // The CLI has exited; the stack keeps serving through nginx.
    const health = await fetch(`http://127.0.0.1:${ports.nginxPort}/health`)
    expect(health.status).toBe(200)

    const again = await stackCli(['up', ...flags])
    expect(again.code, again.output).toBe(0)
    expect(again.output).toContain('already running')

    const status = await stackCli(['status', '--data-dir', dataDir])
    expect(status.code, status.output).toBe(0)
    for (const name of ['postgres', 'redis', 'replica-1', 'replica-2', 'replica-3', 'nginx']) {
      expect(status.output).toMatch(new RegExp(`^${name}\\s+\\d+\\s+\\d+\\s+healthy`, 'm'))
    }

    const state = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as StackState
    const pids = state.components.map((component) => component.pid)
    expect(pids).toHaveLength(6)
    expect(pids.every(processRuns)).toBe(true)
    // PostgreSQL's backends and nginx's workers run in their leader's process group.
    expect(pids.flatMap(liveGroupMembers).length).toBeGreaterThan(pids.length)

    const down = await stackCli(['down', '--data-dir', dataDir])
    expect(down.code, down.output).toBe(0)
    expect(pids.filter(processRuns)).toEqual([])
    expect(pids.flatMap(liveGroupMembers)).toEqual([])

    const after = await stackCli(['status', '--data-dir', dataDir])
    expect(after.code).toBe(3)
    expect(after.output).toContain('Not running')
  })
})
