import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runTimestamp } from '@strata/stack/cli-support'

/**
 * loadtests/results: one directory per run; `latest/` holds the newest comparison (not committed:
 * snapshots worth keeping go to docs/results/). Found from this file, not from the repository
 * root: in the loadtest image this package is /app/loadtests, and the results volume is there.
 */
export const RESULTS_DIR = fileURLToPath(new URL('../results', import.meta.url))

/** `2026-11-24T13-05-09` — sortable and safe in a path. */
export const timestamp = runTimestamp

/** Creates `loadtests/results/<name>/` and returns its path. */
export function resultDir(name: string): string {
  const dir = resolve(RESULTS_DIR, name)
  mkdirSync(dir, { recursive: true })
  return dir
}

/** Writes a JSON file with a trailing newline. */
export const writeJson = (path: string, value: unknown) =>
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`)

/** Copies the named files of a run into `latest/`, replacing those of the previous run. */
export function publishLatest(fromDir: string, files: readonly string[]): string {
  const latest = resolve(RESULTS_DIR, 'latest')
  mkdirSync(latest, { recursive: true })
  for (const file of files) {
    rmSync(resolve(latest, file), { force: true })
    cpSync(resolve(fromDir, file), resolve(latest, file))
  }
  return latest
}

/** What the numbers were measured on. */
export function machineInfo() {
  const cores = cpus()
  return {
    node: process.version,
    cpus: cores.length,
    cpu_model: cores[0]?.model.trim() ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
  }
}
