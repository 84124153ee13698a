import { InvalidOptionError } from './errors.js'

// Checks of single option values: each throws `InvalidOptionError` naming the option.

export function positiveInteger(option: string, value: unknown, fallback: number): number {
  const resolved = value ?? fallback
  if (typeof resolved !== 'number' || !Number.isSafeInteger(resolved) || resolved <= 0) {
    throw new InvalidOptionError(option, value, 'a positive integer')
  }
  return resolved
}

export function optionalPositiveInteger(option: string, value: unknown): number | undefined {
  return value === undefined ? undefined : positiveInteger(option, value, 0)
}

export function nonNegativeInteger(option: string, value: unknown, fallback: number): number {
  const resolved = value ?? fallback
  if (typeof resolved !== 'number' || !Number.isSafeInteger(resolved) || resolved < 0) {
    throw new InvalidOptionError(option, value, 'an integer ≥ 0')
  }
  return resolved
}

export function nonEmptyString(option: string, value: unknown, fallback: string): string {
  const resolved = value ?? fallback
  if (typeof resolved !== 'string' || resolved.length === 0) {
    throw new InvalidOptionError(option, value, 'a non-empty string')
  }
  return resolved
}
