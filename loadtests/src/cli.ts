import { abortOnInterrupt } from '@strata/stack/cli-support'
/**
 * The load tools: `pnpm loadtest`, `pnpm loadtest:compare`, `pnpm loadtest:limit`,
 * `pnpm loadtest:smoke`. Run with `tsx loadtests/src/cli.ts <command> [options]`.
 */
import { readLoadtestEnv } from './env.js'

const HELP = `Strata load tools

  loadtest run [scenario] [options]      one scenario against a running stack
  loadtest compare [scenario] [options]  the same scenario in every cache mode, interleaved
  loadtest limit [options]               L1-hit throughput of the stack against a bare Hono app
  loadtest smoke                         CI: 15 s of read-heavy on a throw-away stack

  loadtest <command> --help              the options of a command`

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2)
  const env = readLoadtestEnv()
  const signal = abortOnInterrupt('stopping')
  const wantsHelp = rest.includes('--help') || rest.includes('-h')
  switch (command) {
    case 'run': {
      const { runCommand, RUN_HELP } = await import('./commands/run.js')
      if (wantsHelp) return help(RUN_HELP)
      return runCommand(rest, env, signal)
    }
    case 'compare': {
      const { compareCommand, COMPARE_HELP } = await import('./commands/compare.js')
      if (wantsHelp) return help(COMPARE_HELP)
      return compareCommand(rest, env, signal)
    }
    case 'limit': {
      const { limitCommand, LIMIT_HELP } = await import('./commands/limit.js')
      if (wantsHelp) return help(LIMIT_HELP)
      return limitCommand(rest, env, signal)
    }
    case 'smoke': {
      const { smokeCommand, SMOKE_HELP } = await import('./commands/smoke.js')
      if (wantsHelp) return help(SMOKE_HELP)
      return smokeCommand(rest, env, signal)
    }
    default:
      console.log(HELP)
      return command === undefined || command === '--help' || command === '-h' ? 0 : 2
  }
}

function help(text: string): number {
  console.log(text)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (
      error instanceof RangeError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      console.error(`loadtest: ${(error as Error).message}`)
      process.exitCode = 2
      return
    }
    console.error('loadtest: failed')
    console.error(error)
    process.exitCode = 1
  },
)
