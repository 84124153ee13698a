/** Where the stack prints its progress. The CLI prints to the terminal; tests stay quiet. */
export interface Reporter {
  /** A step that is starting or finished ("PostgreSQL ready on 127.0.0.1:5436"). */
  step(message: string): void
  /** Supporting detail under a step. */
  info(message: string): void
  /** Something the user should notice but that does not stop the stack. */
  warn(message: string): void
}

/** Prints progress to stdout and warnings to stderr. */
export const consoleReporter: Reporter = {
  step: (message) => console.log(`> ${message}`),
  info: (message) => console.log(`  ${message}`),
  warn: (message) => console.error(`! ${message}`),
}

/** Prints nothing but warnings: for tests, where progress lines would drown the test output. */
export const quietReporter: Reporter = {
  step: () => {},
  info: () => {},
  warn: (message) => console.error(`[stack] ${message}`),
}
