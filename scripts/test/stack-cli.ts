import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { testEnvironment } from '@strata/stack/testing'

/** Runs `tsx scripts/src/stack.ts <args>` as `pnpm stack` does, and collects its exit code and output. */
export function stackCli(args: string[]): Promise<{ code: number; output: string }> {
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
