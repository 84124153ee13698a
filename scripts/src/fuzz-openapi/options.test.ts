import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readFuzzOpenApiEnvironment } from './env.js'
import { parseFuzzOpenApiArgs, UsageError } from './options.js'
import {
  locateSchemathesis,
  SCHEMATHESIS_VERSION,
  SchemathesisMissingError,
  schemathesisArgs,
} from './schemathesis.js'

describe('pnpm fuzz:openapi options', () => {
  it('has defaults sized for CI', () => {
    expect(parseFuzzOpenApiArgs([])).toEqual({
      help: false,
      install: false,
      maxExamples: 150,
      seed: 1,
      workers: 2,
      schemathesis: undefined,
    })
  })

  it('takes a seed, a size and an executable', () => {
    const options = parseFuzzOpenApiArgs([
      '--seed',
      '7',
      '--max-examples',
      '600',
      '--schemathesis',
      '/opt/st',
    ])
    expect(options).toMatchObject({ seed: 7, maxExamples: 600, schemathesis: '/opt/st' })
  })

  it.each([
    [['--seed', 'x'], '--seed: expected a whole number ≥ 1'],
    [['--workers', '0'], '--workers: expected a whole number ≥ 1'],
    [['--nope'], "Unknown option '--nope'"],
  ])('refuses %j, naming the option', (argv, message) => {
    expect(() => parseFuzzOpenApiArgs(argv)).toThrow(UsageError)
    expect(() => parseFuzzOpenApiArgs(argv)).toThrow(message)
  })

  it('keeps the venv under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(readFuzzOpenApiEnvironment({ XDG_CACHE_HOME: '/c', HOME: '/h' }).cacheDir).toBe(
      '/c/strata',
    )
    expect(readFuzzOpenApiEnvironment({ HOME: '/h' }).cacheDir).toBe('/h/.cache/strata')
  })

  it('says how to install schemathesis when the pinned one is missing', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'strata-st-'))
    try {
      expect(() => locateSchemathesis(undefined, cacheDir)).toThrow(SchemathesisMissingError)
      expect(() => locateSchemathesis(undefined, cacheDir)).toThrow(
        `pip install schemathesis==${SCHEMATHESIS_VERSION}`,
      )
    } finally {
      rmSync(cacheDir, { recursive: true, force: true })
    }
  })

  it('runs every check in both generation modes, seeded, with no example database', () => {
    const args = schemathesisArgs(
      'http://127.0.0.1:1',
      { maxExamples: 5, seed: 3, workers: 1 },
      't',
    )
    expect(args.slice(0, 2)).toEqual(['run', 'http://127.0.0.1:1/openapi.json'])
    expect(args.join(' ')).toContain('--checks not_a_server_error,status_code_conformance')
    expect(args.join(' ')).toContain('--mode all --max-examples 5 --seed 3')
    expect(args.join(' ')).toContain('--generation-database none')
  })
})
