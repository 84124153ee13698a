import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { type CacheMode, REPO_ROOT } from '@strata/stack/config'
import type { Progress } from '../progress.js'

/** The file whose presence says a baseline checkout was installed and built to the end. */
const BUILT_MARKER = '.strata-baseline-built'
/** The stack runner every revision must have: the baseline starts itself with its own. */
export const STACK_TOOL = 'scripts/src/stack.ts'

/** A revision built in its own worktree, ready to run as one more contender. */
export interface Baseline {
  /** The contender's name: `baseline@<short sha>`. */
  name: string
  sha: string
  /** The worktree: its own stack runner starts its stacks. */
  rootDir: string
  mode: CacheMode
}

/**
 * Where built baselines are kept between runs: `$STRATA_BASELINE_CACHE`, or
 * `$XDG_CACHE_HOME/strata`, or `~/.cache/strata`. One worktree per commit, `baseline-<sha>`.
 */
export function baselineCacheDir(env: Readonly<Record<string, string | undefined>>): string {
  return (
    env.STRATA_BASELINE_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'strata')
  )
}

const git = (args: string[]) =>
  spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

/** The commit a revision names; a RangeError (bad argument) when it names none. */
export function resolveRevision(rev: string): string {
  const found = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])
  const sha = found.stdout.trim()
  if (found.status !== 0 || !/^[0-9a-f]{40}$/.test(sha))
    throw new RangeError(`--baseline: ${JSON.stringify(rev)} is not a revision of this repository`)
  if (git(['cat-file', '-e', `${sha}:${STACK_TOOL}`]).status !== 0)
    throw new RangeError(
      `--baseline: ${rev} (${sha.slice(0, 10)}) is too old to start itself: it has no ${STACK_TOOL}`,
    )
  return sha
}

/** Runs one build step with its output appended to `logFile`; rejects naming the step and the log. */
export function buildStep(
  command: string,
  args: string[],
  cwd: string,
  logFile: string,
): Promise<void> {
  const fd = openSync(logFile, 'a')
  writeFileSync(fd, `\n$ ${command} ${args.join(' ')}   (in ${cwd})\n`)
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', fd, fd], env: process.env })
    child.once('error', (error) => reject(new Error(`could not run ${command}: ${error.message}`)))
    child.once('close', (code, signal) => {
      if (code === 0) resolve()
      else
        reject(
          new Error(
            `\`${command} ${args.join(' ')}\` failed (${signal ?? `exit ${code}`}); its log: ${logFile}`,
          ),
        )
    })
  }).finally(() => closeSync(fd))
}

/**
 * Builds a revision in a detached worktree under the cache directory, or reuses the one a
 * previous run built: `git worktree add --detach`, `pnpm install --frozen-lockfile --offline`,
 * `pnpm build`. Progress goes to `progress`; the steps' output to `<cache>/baseline-<sha>.log`.
 */
export async function prepareBaseline(options: {
  rev: string
  mode: CacheMode
  cacheDir: string
  progress: Progress
}): Promise<Baseline> {
  const { rev, mode, cacheDir, progress } = options
  const sha = resolveRevision(rev)
  const short = sha.slice(0, 7)
  const name = `baseline@${short}`
  const rootDir = join(cacheDir, `baseline-${sha}`)
  const baseline = { name, sha, rootDir, mode }
  if (existsSync(join(rootDir, BUILT_MARKER))) {
    progress.log(`[${name}] reusing the build of ${rev} in ${rootDir}`)
    return baseline
  }
  mkdirSync(cacheDir, { recursive: true })
  const logFile = join(cacheDir, `baseline-${sha}.log`)
  rmSync(logFile, { force: true })
  // A build that stopped half-way (interrupted, failed) starts again from a fresh checkout.
  if (existsSync(rootDir)) {
    git(['worktree', 'remove', '--force', rootDir])
    rmSync(rootDir, { recursive: true, force: true })
  }
  git(['worktree', 'prune'])
  const started = Date.now()
  progress.log(`[${name}] building ${rev} in ${rootDir} (log: ${logFile})`)
  await buildStep('git', ['worktree', 'add', '--detach', rootDir, sha], REPO_ROOT, logFile)
  progress.log(`[${name}] pnpm install --frozen-lockfile --offline`)
  await buildStep('pnpm', ['install', '--frozen-lockfile', '--offline'], rootDir, logFile)
  progress.log(`[${name}] pnpm build`)
  await buildStep('pnpm', ['build'], rootDir, logFile)
  writeFileSync(join(rootDir, BUILT_MARKER), `${new Date().toISOString()}\n`)
  progress.log(`[${name}] built in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return baseline
}
