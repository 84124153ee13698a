import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { StackError } from './errors.js'
import type { Reporter } from './reporter.js'

/** A workspace package's build output and the workspace packages it needs at run time. */
interface BuiltPackage {
  dir: string
  /** The file whose age stands for the whole build output. */
  output: string
}

/** The builds the stack relies on: the API it runs and test-servers, whose helpers the stack uses. */
const TARGETS: Record<'api' | 'testServers', BuiltPackage> = {
  api: { dir: 'apps/api', output: 'dist/server.js' },
  testServers: { dir: 'packages/test-servers', output: 'dist/index.js' },
}

/**
 * Builds the API (and the workspace packages it depends on) when its output is missing or older
 * than any source it is built from, so `pnpm start` never runs yesterday's code.
 * With `api: false` only the stack's own dependency is checked (for `down`/`status`).
 */
export function ensureBuilt(rootDir: string, reporter: Reporter, options: { api: boolean }): void {
  const targets = options.api ? [TARGETS.api, TARGETS.testServers] : [TARGETS.testServers]
  const reasons = targets.flatMap((target) => {
    const reason = staleness(rootDir, target)
    return reason ? [reason] : []
  })
  if (reasons.length === 0) return

  // turbo is what `pnpm turbo` runs; calling it directly works without pnpm on PATH (tests, CI).
  const turbo = join(rootDir, 'node_modules/.bin/turbo')
  if (!existsSync(turbo)) {
    throw new StackError(
      'E_BUILD_FAILED',
      `${reasons.join('; ')}, and turbo is not installed. Run: pnpm install`,
    )
  }
  const args = ['run', 'build', '--filter', '@strata/api...', '--output-logs=errors-only']
  reporter.step(`Building the API (${reasons.join('; ')})`)
  reporter.info(`pnpm turbo ${args.join(' ')}`)
  const started = Date.now()
  const result = spawnSync(turbo, args, { cwd: rootDir, stdio: 'inherit' })
  if (result.status !== 0) {
    throw new StackError(
      'E_BUILD_FAILED',
      `building the API failed (turbo exit status ${result.status ?? result.signal}); fix the errors above`,
    )
  }
  // A turbo cache hit (sources touched but unchanged, e.g. by a git checkout) leaves the old
  // output in place; marking it current stops every later start from rebuilding again.
  const now = new Date()
  for (const target of targets) utimesSync(join(rootDir, target.dir, target.output), now, now)
  reporter.step(`Built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

/** Why a package needs a build, or undefined when its output is newer than all of its inputs. */
function staleness(rootDir: string, target: BuiltPackage): string | undefined {
  const output = join(rootDir, target.dir, target.output)
  if (!existsSync(output)) return `${join(target.dir, target.output)} is missing`
  const builtAt = statSync(output).mtimeMs
  const inputs = [target.dir, ...workspaceDependencies(rootDir, target.dir)]
  for (const dir of inputs) {
    const newest = newestInput(join(rootDir, dir))
    if (newest && newest.mtimeMs > builtAt)
      return `${join(dir, newest.path)} changed since the last build`
  }
  return undefined
}

/** Directories of the workspace packages `dir` depends on at run time, transitively. */
function workspaceDependencies(rootDir: string, dir: string): string[] {
  const byName = new Map<string, string>()
  for (const group of ['packages', 'apps']) {
    const groupDir = join(rootDir, group)
    if (!existsSync(groupDir)) continue
    for (const entry of readdirSync(groupDir)) {
      const manifest = readManifest(join(groupDir, entry))
      if (manifest?.name) byName.set(manifest.name, `${group}/${entry}`)
    }
  }
  const found = new Set<string>()
  const visit = (from: string) => {
    const deps = readManifest(join(rootDir, from))?.dependencies ?? {}
    for (const [name, range] of Object.entries(deps)) {
      const depDir = byName.get(name)
      if (!range.startsWith('workspace:') || !depDir || found.has(depDir)) continue
      found.add(depDir)
      visit(depDir)
    }
  }
  visit(dir)
  return [...found]
}

interface Manifest {
  name?: string
  dependencies?: Record<string, string>
}

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
  } catch {
    return undefined
  }
}

/** The most recently modified build input of a package: src/, package.json and tsconfig files. */
function newestInput(packageDir: string): { path: string; mtimeMs: number } | undefined {
  let newest: { path: string; mtimeMs: number } | undefined
  const consider = (path: string) => {
    const mtimeMs = statSync(join(packageDir, path)).mtimeMs
    if (!newest || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs }
  }
  for (const file of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) {
    if (existsSync(join(packageDir, file))) consider(file)
  }
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(packageDir, relative), { withFileTypes: true })) {
      const path = join(relative, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (/\.(ts|mts|cts|json)$/.test(entry.name) && !/\.test\.ts$/.test(entry.name))
        consider(path)
    }
  }
  if (existsSync(join(packageDir, 'src'))) walk('src')
  return newest
}
