import { parseArgs } from 'node:util'
import { parseDuration } from './duration.js'

/** How one command-line option is read, and what it turns into. */
export type OptionSpec =
  | { kind: 'int'; default: number | undefined }
  | { kind: 'duration'; default: string | undefined }
  | { kind: 'string'; default: string | undefined }
  | { kind: 'strings' }
  | { kind: 'flag' }

/** A whole number ≥ 1 (`--vus 32`); undefined when absent and without a default. */
export function int(): { kind: 'int'; default: undefined }
export function int(defaultValue: number): { kind: 'int'; default: number }
export function int(defaultValue?: number): OptionSpec {
  return { kind: 'int', default: defaultValue }
}

/** A duration such as `30s` or `1m30s` (a bare number is seconds), in milliseconds. */
export function duration(): { kind: 'duration'; default: undefined }
export function duration(defaultValue: string): { kind: 'duration'; default: string }
export function duration(defaultValue?: string): OptionSpec {
  return { kind: 'duration', default: defaultValue }
}

/** Free text, taken as given. */
export function text(): { kind: 'string'; default: undefined }
export function text(defaultValue: string): { kind: 'string'; default: string }
export function text(defaultValue?: string): OptionSpec {
  return { kind: 'string', default: defaultValue }
}

/** Free text that may be given several times (`--threshold A --threshold B`). */
export const texts = () => ({ kind: 'strings' }) as const
/** A switch: present or not. */
export const flag = () => ({ kind: 'flag' }) as const

/** Options every command that runs a scenario takes. */
export const SCENARIO_OPTIONS = {
  duration: duration('30s'),
  warmup: duration('5s'),
  vus: int(32),
  seed: int(1),
  'no-prime': flag(),
} as const

type ValueOf<S extends OptionSpec> = S extends { kind: 'flag' }
  ? boolean
  : S extends { kind: 'strings' }
    ? string[]
    :
        | (S extends { kind: 'string' } ? string : number)
        | (S extends { default: undefined } ? undefined : never)

/** The parsed values of a set of options. */
export type OptionValues<T extends Record<string, OptionSpec>> = { [K in keyof T]: ValueOf<T[K]> }

/**
 * Parses a command's arguments against its options: whole numbers and durations are checked and
 * converted once, so commands never see raw text. Unknown options, bad values and too many
 * positionals throw a RangeError (or node's ERR_PARSE_ARGS_*) that names the option and what it
 * expects; the CLI prints it and exits 2.
 * @example const { values } = parseOptions(argv, { vus: int(32), duration: duration('30s') })
 */
export function parseOptions<T extends Record<string, OptionSpec>>(
  argv: readonly string[],
  spec: T,
  maxPositionals = 0,
): { values: OptionValues<T>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(spec).map(([name, o]) => [
      name,
      o.kind === 'flag'
        ? { type: 'boolean' as const, default: false }
        : o.kind === 'strings'
          ? { type: 'string' as const, multiple: true as const }
          : { type: 'string' as const },
    ]),
  )
  const parsed = parseArgs({ args: [...argv], options, allowPositionals: maxPositionals > 0 })
  if (parsed.positionals.length > maxPositionals)
    throw new RangeError(
      maxPositionals === 0
        ? `unexpected argument(s): ${parsed.positionals.join(' ')}`
        : `expected at most ${maxPositionals} argument(s), got ${parsed.positionals.join(' ')}`,
    )
  const raw = parsed.values as Record<string, string | string[] | boolean | undefined>
  const values: Record<string, unknown> = {}
  for (const [name, o] of Object.entries(spec)) {
    const given = raw[name]
    if (o.kind === 'flag') values[name] = given === true
    else if (o.kind === 'strings') values[name] = (given as string[] | undefined) ?? []
    else {
      const value = (given as string | undefined) ?? o.default
      if (value === undefined) values[name] = undefined
      else if (o.kind === 'int') values[name] = wholeNumber(`--${name}`, String(value))
      else if (o.kind === 'duration') values[name] = durationOf(`--${name}`, String(value))
      else values[name] = value
    }
  }
  return { values: values as OptionValues<T>, positionals: parsed.positionals }
}

function wholeNumber(option: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new RangeError(`${option}: expected a whole number ≥ 1 (got ${JSON.stringify(raw)})`)
  return Number(raw)
}

function durationOf(option: string, raw: string): number {
  try {
    return parseDuration(raw)
  } catch (error) {
    throw new RangeError(`${option}: ${(error as Error).message}`)
  }
}
