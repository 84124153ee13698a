import { parseArgs } from 'node:util'
import { parseDuration } from './duration.js'

/**
 * The one command-line parser of the tools (pnpm stack, loadtest, chaos, fuzz:openapi), over
 * node:util's parseArgs: each option is declared with its kind, and its value is checked and
 * converted once, so commands never see raw text.
 */

/** A command line that cannot be run; the message names the option and what it expects. */
export class UsageError extends RangeError {
  readonly code = 'E_USAGE'
}

/** How one command-line option is read, and what it turns into. */
export type OptionSpec =
  | { kind: 'int'; default: number | undefined }
  | { kind: 'number'; default: number | undefined }
  | { kind: 'duration'; default: string | undefined }
  | { kind: 'string'; default: string | undefined }
  | { kind: 'strings' }
  | { kind: 'flag'; short?: string }

/** Declares an option of one kind: without a default its value may be undefined. */
interface ValuedOption<K extends string, V> {
  (): { kind: K; default: undefined }
  (defaultValue: V): { kind: K; default: V }
}
const valued = <K extends string, V>(kind: K): ValuedOption<K, V> =>
  ((defaultValue?: V) => ({ kind, default: defaultValue })) as ValuedOption<K, V>

/** A whole number ≥ 1 (`--vus 32`). */
export const int = valued<'int', number>('int')
/** A duration such as `30s` or `1m30s` (a bare number is seconds), in milliseconds. */
export const duration = valued<'duration', string>('duration')
/** A number > 0, fractions allowed (`--rate 12.5`). */
export const positive = valued<'number', number>('number')
/** Free text, taken as given. */
export const text = valued<'string', string>('string')

/** Free text that may be given several times (`--threshold A --threshold B`). */
export const texts = () => ({ kind: 'strings' }) as const
/** A switch: present or not; `short` is its one-letter form (`-h`). */
export const flag = (short?: string) =>
  (short === undefined ? { kind: 'flag' } : { kind: 'flag', short }) as {
    kind: 'flag'
    short?: string
  }

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
 * converted once. Unknown options, bad values and too many positionals throw a UsageError that
 * names the option and what it expects; the CLIs print it and exit 2.
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
        ? { type: 'boolean' as const, ...(o.short === undefined ? {} : { short: o.short }) }
        : o.kind === 'strings'
          ? { type: 'string' as const, multiple: true as const }
          : { type: 'string' as const },
    ]),
  )
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: maxPositionals > 0 })
  } catch (error) {
    // node's ERR_PARSE_ARGS_*: an unknown option, a missing value, an unexpected argument. The
    // advice node appends to an unknown option (how to pass a positional starting with '-') is
    // noise here: none of the tools takes such a positional.
    const [problem] = (error as Error).message.split('. To specify a positional')
    throw new UsageError(`${problem} (see --help)`)
  }
  if (parsed.positionals.length > maxPositionals)
    throw new UsageError(
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
      else if (o.kind === 'number') values[name] = positiveNumber(`--${name}`, String(value))
      else if (o.kind === 'duration') values[name] = durationOf(`--${name}`, String(value))
      else values[name] = value
    }
  }
  return { values: values as OptionValues<T>, positionals: parsed.positionals }
}

/** `raw` as a whole number ≥ 1; a UsageError naming `option` otherwise. */
export function wholeNumber(option: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new UsageError(`${option}: expected a whole number ≥ 1 (got ${JSON.stringify(raw)})`)
  return Number(raw)
}

function positiveNumber(option: string, raw: string): number {
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0)
    throw new UsageError(`${option}: expected a positive number (got ${JSON.stringify(raw)})`)
  return value
}

/** `raw` as a duration in milliseconds; a UsageError naming `option` otherwise. */
export function durationOf(option: string, raw: string): number {
  try {
    return parseDuration(raw)
  } catch (error) {
    throw new UsageError(`${option}: ${(error as Error).message}`)
  }
}
