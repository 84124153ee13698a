import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

/**
 * The modules the other tools import at run time, the load generator's Docker image included.
 * The image holds this package's sources but not the builds or sources of the packages the
 * stack runner needs (@strata/api, @strata/test-servers): these modules must import only
 * node: modules and each other.
 */
const SHARED = [
  'running-stack.ts',
  'ports.ts',
  'processes.ts',
  'http.ts',
  'options.ts',
  'text-table.ts',
  'cli-support.ts',
  'config.ts',
]

/** Every module `entry` imports, directly or through other modules of this package. */
function closure(entry: string): Map<string, string[]> {
  const found = new Map<string, string[]>()
  const pending = [entry]
  while (pending.length > 0) {
    const file = pending.pop() as string
    if (found.has(file)) continue
    const source = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8')
    // `import type` is erased before anything runs.
    const specifiers = [
      ...source.matchAll(/^(?:import(?! type )|export)[^'"]*from '([^']+)'/gm),
    ].map((match) => match[1] as string)
    found.set(file, specifiers)
    for (const specifier of specifiers)
      if (specifier.startsWith('./')) pending.push(specifier.slice(2).replace(/\.js$/, '.ts'))
  }
  return found
}

describe('the modules other tools share', () => {
  it.each(SHARED)('%s imports only node: modules and light modules of this package', (entry) => {
    const outside = [...closure(entry)].flatMap(([file, specifiers]) =>
      specifiers
        .filter((specifier) => !specifier.startsWith('node:') && !specifier.startsWith('./'))
        .map((specifier) => `${file} → ${specifier}`),
    )
    expect(outside).toEqual([])
  })
})
