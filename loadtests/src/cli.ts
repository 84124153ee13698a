import { abortOnInterrupt } from '@strata/stack/cli-support'
/**
 * The load tools: `pnpm loadtest`, `pnpm loadtest:compare`, `pnpm loadtest:limit`,
 * `pnpm loadtest:smoke`, `pnpm loadtest:scale`, `pnpm loadtest:crosscheck`. Run with `tsx loadtests/src/cli.ts <command> [options]`.
 */
import { type LoadtestEnv, readLoadtestEnv } from './env.js'

const HELP = `Strata load tools

  loadtest run [scenario] [options]      one scenario against a running stack
  loadtest compare [scenario] [options]  the same scenario in every cache mode, interleaved
  loadtest limit [options]               L1-hit throughput of the stack against a bare Hono app
  loadtest smoke                         CI: 15 s of read-heavy on a throw-away stack
  loadtest scale [options]               throughput and CPU per request by replica count and value size
  loadtest crosscheck [options]          our generator against wrk on the read-heavy mix

  loadtest <command> --help              the options of a command`

/** A command: what runs it and its `--help`. */
interface Command {
  run: (argv: string[], env: LoadtestEnv, signal: AbortSignal) => Promise<number>
  help: string
}
const command = (run: Command['run'], help: string): Command => ({ run, help })

/** Each command's module, loaded only when it is the one asked for. */
const COMMANDS = new Map<string, () => Promise<Command>>([
  ['run', () => import('./commands/run.js').then((m) => command(m.runCommand, m.RUN_HELP))],
  [
    'compare',
    () => import('./commands/compare.js').then((m) => command(m.compareCommand, m.COMPARE_HELP)),
  ],
  ['limit', () => import('./commands/limit.js').then((m) => command(m.limitCommand, m.LIMIT_HELP))],
  ['smoke', () => import('./commands/smoke.js').then((m) => command(m.smokeCommand, m.SMOKE_HELP))],
  ['scale', () => import('./commands/scale.js').then((m) => command(m.scaleCommand, m.SCALE_HELP))],
  [
    'crosscheck',
    () =>
      import('./commands/crosscheck.js').then((m) =>
        command(m.crosscheckCommand, m.CROSSCHECK_HELP),
      ),
  ],
])

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2)
  const env = readLoadtestEnv()
  const signal = abortOnInterrupt('stopping')
  const load = name === undefined ? undefined : COMMANDS.get(name)
  if (!load) {
    console.log(HELP)
    return name === undefined || name === '--help' || name === '-h' ? 0 : 2
  }
  const { run, help } = await load()
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(help)
    return 0
  }
  return run(rest, env, signal)
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
