import { mkdirSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { getJson } from '@strata/stack/http'
import { readStack } from '@strata/stack/running-stack'
import { scenarioNamed } from '../../scenarios/index.js'
import type { LoadtestEnv } from '../env.js'
import { flag, int, parseOptions, SCENARIO_OPTIONS, text, texts } from '../options.js'
import { Progress } from '../progress.js'
import { resultDir, timestamp, writeJson } from '../results.js'
import { runScenario } from '../run-scenario.js'
import { formatSummary } from '../summary.js'
import { parseThreshold } from '../thresholds.js'

export const RUN_HELP = `pnpm loadtest [scenario] [options]
  Runs a scenario against a running stack (start one with \`pnpm stack up\`).

  scenario               read-heavy (default) | hot-key | cold | write-heavy
  --duration D           measured window, e.g. 30s, 2m (default 30s)
  --warmup D             traffic before the window, left out of the summary (default 5s)
  --vus N                virtual users, one keep-alive connection each (default 32)
  --rate R               open loop: offer R requests/s (over max(--vus, R/25) connections)
                         instead of sending as fast as answers come back: latency at a fixed load
  --target URL           the cluster's entry point (default: the stack in --data-dir, else http://127.0.0.1:8005)
  --data-dir DIR         the stack's data directory, to find its nginx and PostgreSQL (default .data)
  --database-url URL     PostgreSQL to seed (default: DATABASE_URL, else the stack's)
  --no-seed              do not seed (the scenario's rows already exist)
  --no-prime             do not read every key before the warm-up
  --threshold EXPR       replaces the scenario's thresholds; repeatable (e.g. 'combined_hit_rate>90')
  --seed N               seed of the key streams (default 1)
  --out DIR              where summary.json and summary.txt go (default loadtests/results/<time>-<scenario>)

  Exit status: 0 passed, 1 a threshold was violated or the run failed, 2 bad arguments.`

/** `pnpm loadtest`: one scenario against a running stack. */
export async function runCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values, positionals } = parseOptions(
    argv,
    {
      ...SCENARIO_OPTIONS,
      rate: int(),
      target: text(),
      'data-dir': text(),
      'database-url': text(),
      'no-seed': flag(),
      threshold: texts(),
      out: text(),
    },
    1,
  )
  const scenario = scenarioNamed(positionals[0] ?? 'read-heavy')
  const dataDir = resolve(env.invocationDir, values['data-dir'] ?? resolve(REPO_ROOT, '.data'))
  const recorded = readStack(dataDir)
  const target = new URL(values.target ?? recorded?.nginxUrl ?? 'http://127.0.0.1:8005')
  // The recorded stack describes the target only when it is the target.
  const stack =
    recorded && new URL(recorded.nginxUrl).origin === target.origin ? recorded : undefined
  const databaseUrl = values['no-seed']
    ? undefined
    : (values['database-url'] ??
      env.databaseUrl ??
      stack?.databaseUrl ??
      'postgres://postgres@127.0.0.1:5436/strata')
  if (stack?.rateLimited) {
    console.error(
      'warning: nginx rate-limits writes per client address on this stack, and every request of\n' +
        'the generator comes from one address: writes beyond the limit get 429 and count as errors.\n' +
        'Restart it with `pnpm stack down && pnpm stack up --rate-limit off` to measure the cache.',
    )
  }
  const thresholds =
    values.threshold.length > 0 ? values.threshold.map(parseThreshold) : scenario.thresholds

  try {
    await getJson(`${target.origin}/health`)
  } catch (error) {
    console.error(
      `No healthy Strata at ${target.origin} (${(error as Error).message}).\n` +
        'Start one with `pnpm stack up`, or point --target at yours.',
    )
    return 1
  }
  const summary = await runScenario({
    target,
    scenario,
    databaseUrl,
    vus: values.vus,
    warmupMs: values.warmup,
    durationMs: values.duration,
    // Priming fills L2: a stack known to run without one (modes l1, none) skips it.
    prime:
      !values['no-prime'] && (stack === undefined || stack.mode === 'multi' || stack.mode === 'l2'),
    thresholds,
    seed: values.seed,
    ...(values.rate !== undefined ? { rate: values.rate } : {}),
    progress: new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) }),
    signal,
  })
  const readable = formatSummary(summary)
  const out = values.out
    ? resolve(env.invocationDir, values.out)
    : resultDir(`${timestamp()}-${scenario.name}`)
  mkdirSync(out, { recursive: true })
  writeJson(resolve(out, 'summary.json'), summary)
  writeFileSync(resolve(out, 'summary.txt'), `${readable}\n`)
  console.log(`\n${readable}\n\nSummary: ${resolve(out, 'summary.json')} and summary.txt`)
  return summary.passed ? 0 : 1
}
