/**
 * The local stack CLI: `pnpm start` (foreground) and `pnpm stack up|down|status` (background).
 * Run with `tsx scripts/src/stack.ts <command> [options]`; see `--help`.
 */
import { ensureBuilt } from '@strata/stack/build'
import { HELP, parseCommandLine, readCliEnvironment } from '@strata/stack/command-line'
import { StackError } from '@strata/stack/errors'
import { consoleReporter } from '@strata/stack/reporter'

async function main(): Promise<number> {
  const { command, config } = parseCommandLine(process.argv.slice(2), readCliEnvironment())
  if (command === 'help') {
    console.log(HELP)
    return 0
  }
  const reporter = consoleReporter
  ensureBuilt(config.rootDir, reporter, { api: command === 'start' || command === 'up' })
  // Imported only now: these modules use @strata/test-servers, whose dist/ the build above
  // produces on a fresh checkout.
  const commands = await import('@strata/stack/commands')
  switch (command) {
    case 'start':
      return commands.startCommand(config, reporter)
    case 'up':
      return commands.upCommand(config, reporter)
    case 'down':
      return commands.downCommand(config, reporter)
    case 'status':
      return commands.statusCommand(config)
  }
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (error instanceof StackError) {
      console.error(`\nstack: ${error.message}`)
      // 2 is the usual status for a command line that could not be understood.
      if (error.code === 'E_BAD_ARGUMENT') {
        process.exitCode = 2
        return
      }
    } else {
      console.error('\nstack: unexpected failure')
      console.error(error)
    }
    process.exitCode = 1
  },
)
