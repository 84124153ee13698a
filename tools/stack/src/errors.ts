import { tailFile } from './log-files.js'

/** Stable codes so scripts and tests can tell failures apart without parsing messages. */
export type StackErrorCode =
  | 'E_BAD_ARGUMENT'
  | 'E_MISSING_BINARY'
  | 'E_BUILD_FAILED'
  | 'E_PORT_IN_USE'
  | 'E_ALREADY_RUNNING'
  | 'E_NOT_RUNNING'
  | 'E_COMPONENT_FAILED'
  | 'E_ABORTED'

/** A failure the CLI explains in plain words and exits on, instead of printing a stack trace. */
export class StackError extends Error {
  override readonly name = 'StackError'
  readonly code: StackErrorCode

  constructor(code: StackErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/**
 * A component that did not start or did not become healthy. The message names the component,
 * the log file(s) to read and their last lines, because that is the first thing anyone needs.
 */
export function componentFailed(
  component: string,
  problem: string,
  logFiles: string | readonly string[],
  cause?: unknown,
) {
  const files = typeof logFiles === 'string' ? [logFiles] : logFiles
  const tails = files.map((file) => {
    const tail = tailFile(file, 20)
    return tail ? `\nLast lines of ${file}:\n${indent(tail)}` : `\n(${file} is empty)`
  })
  return new StackError(
    'E_COMPONENT_FAILED',
    `${component}: ${problem}\nRead ${files.join(' and ')} for details.${tails.join('')}`,
    cause === undefined ? undefined : { cause },
  )
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')
