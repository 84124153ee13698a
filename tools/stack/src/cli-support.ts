/** Small pieces every command line of the tools needs: the environment, Ctrl-C. */

/**
 * A variable of `source` (the environment by default); empty counts as unset, as shells often
 * produce empty variables (`FOO= pnpm …`).
 */
export function setting(
  name: string,
  source: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const value = source[name]
  return value === undefined || value === '' ? undefined : value
}

/**
 * A signal the first SIGINT or SIGTERM aborts, after printing `message` (what is being stopped),
 * so a command can stop what it started; a second one exits at once with status 130.
 */
export function abortOnInterrupt(message: string): AbortSignal {
  const abort = new AbortController()
  let interrupts = 0
  const onSignal = () => {
    interrupts++
    if (interrupts > 1) process.exit(130)
    console.error(`\nInterrupted: ${message} (press Ctrl-C again to exit at once)`)
    abort.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return abort.signal
}

/** `2026-11-24T13-05-09`: a run's name for its results directory, sortable and safe in a path. */
export const runTimestamp = (date = new Date()): string =>
  date
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/:/g, '-')
