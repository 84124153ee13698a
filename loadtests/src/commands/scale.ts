import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import { freeStackPorts } from '@strata/stack/ports'
import type { RunningStack } from '@strata/stack/running-stack'
import type { LoadtestEnv } from '../env.js'
import { primeKeys } from '../generator.js'
import { duration, int, parseOptions, text } from '../options.js'
import { Progress } from '../progress.js'
import { machineInfo, resultDir, timestamp, writeJson } from '../results.js'
import {
  parseReplicaCounts,
  parseSizes,
  pointId,
  redisMaxMemoryFor,
  scalePlan,
  scenarioOfSize,
  sizeLabel,
} from '../scale-plan.js'
import type { Scenario } from '../scenario.js'
import { pauseStack, resumeStack, showSteps, stackDown, stackUp } from '../stack-client.js'
import { measurePoint, medianScaleRow, type ScaleRow, scaleReport } from './scale-measure.js'

export const SCALE_HELP = `pnpm loadtest:scale [options]
  How cost grows: the most read-heavy requests/s a multi-mode stack serves (closed loop), and
  the CPU time per request of each role (replicas, nginx, Redis, PostgreSQL; from /proc), for
  every replica count and value size asked. One stack per replica count, on its own ports and
  data directory, all started first; each size is its own data set on every stack (seeded, and
  read once into L2 in the first round). Every round measures every point once, rotating the
  stacks' order; stacks not being measured are paused (SIGSTOP), as loadtest:compare does.
  Writes loadtests/results/<time>-scale/ (summary.json, report.md, one JSON per measurement).

  Each stack's Redis gets maxmemory for every data set (the stack runner's 256mb is sized for
  100-byte values; at the limit writes get 503). Data sets hold at most 128 MiB of values: 4 KiB values use 32,768 keys, 64 KiB values 2,048
  and 1 MiB values 128 (a smaller Zipf tail, so higher hit rates than 100k keys would give).
  Replicas run with their defaults: values above L2_MAX_ENTRY_BYTES (256 KiB) are not cached, so
  1 MiB reads all go to PostgreSQL.

  --replicas LIST     replica counts (default 1,2,3,4)
  --sizes LIST        value sizes, e.g. 100,4k,64k,1m (default)
  --duration D        measured window per point (default 10s)
  --warmup D          warm-up per point, left out of the figures (default 3s)
  --vus N             connections of the closed loop (default 32)
  --repeat N          rounds; the report shows each point's median (default 1)
  --max-keys N        keys of each data set at most (default 100000, read-heavy's)
  --seed N            seed of the key streams (default 1)

  Exit status: 0 done, 1 a stack or a run failed or had errors, 2 bad arguments.`

const SCALE_OPTIONS = {
  replicas: text('1,2,3,4'),
  sizes: text('100,4k,64k,1m'),
  duration: duration('10s'),
  warmup: duration('3s'),
  vus: int(32),
  repeat: int(1),
  'max-keys': int(100_000),
  seed: int(1),
}

/** `pnpm loadtest:scale`. */
export async function scaleCommand(
  argv: string[],
  env: LoadtestEnv,
  signal: AbortSignal,
): Promise<number> {
  const { values } = parseOptions(argv, SCALE_OPTIONS, 0)
  const replicas = parseReplicaCounts(values.replicas)
  const sizes = parseSizes(values.sizes)
  if (values.repeat < 1) throw new RangeError('--repeat: at least 1')
  const scenarios = new Map(
    sizes.map((bytes) => [bytes, scenarioOfSize(bytes, values['max-keys'])]),
  )
  const progress = new Progress({ interactive: !env.ci && Boolean(process.stderr.isTTY) })
  const outDir = resultDir(`${timestamp()}-scale`)
  // PostgreSQL runs as the `postgres` user when we are root: it must be able to enter the directory.
  const workDir = mkdtempSync(join(tmpdir(), 'strata-scale-'))
  chmodSync(workDir, 0o755)
  const logFile = join(outDir, 'stack.log')
  const stackEnv = { ...env.all, ACCESS_LOG: 'false', L2_CACHE_TTL: env.all.L2_CACHE_TTL ?? '3600' }
  const stacks = new Map<number, { dataDir: string; stack?: RunningStack }>()
  const measured = new Map<string, ScaleRow[]>()
  let failed = false
  progress.log(
    `Scale run: replicas ${replicas.join(', ')} × values ${sizes.map(sizeLabel).join(', ')}, ${values.repeat} round(s), closed loop of ${values.vus} connections; results in ${relative(process.cwd(), outDir)}`,
  )
  try {
    for (const [i, n] of replicas.entries()) {
      if (signal.aborted) break
      const dataDir = join(workDir, `r${n}`)
      mkdirSync(dataDir, { mode: 0o755 })
      const entry: { dataDir: string; stack?: RunningStack } = { dataDir }
      stacks.set(n, entry)
      const label = `[${n} replica${n > 1 ? 's' : ''}] `
      try {
        const ports = await freeStackPorts(n, 25_000 + i * 100)
        entry.stack = await stackUp(
          {
            dataDir,
            mode: 'multi',
            lb: 'round-robin',
            replicas: n,
            redisMaxMemory: redisMaxMemoryFor([...scenarios.values()]),
            ports,
            env: stackEnv,
            logFile,
          },
          showSteps(progress, label),
        )
        progress.log(`${label}stack up on port ${ports.nginx}`)
        pauseStack(entry.stack)
      } catch (error) {
        failed = true
        progress.log(`${label}FAILED to start: ${(error as Error).message}`)
      }
    }
    /** Keys written on each stack and data set since it was last primed. */
    const written = new Map<string, Set<string>>()
    const plan = scalePlan(replicas, sizes, values.repeat)
    for (const [index, { round, point }] of plan.entries()) {
      const stack = stacks.get(point.replicas)?.stack
      if (signal.aborted) break
      if (!stack) continue
      const id = pointId(point)
      const label = `[${index + 1}/${plan.length} ${point.replicas}r ${sizeLabel(point.bytes)}] `
      const scenario = scenarios.get(point.bytes) as Scenario
      const writes = written.get(id) ?? new Set<string>()
      written.set(id, writes)
      try {
        await resumeStack(stack)
        if (round > 0 && writes.size > 0) {
          // A write leaves only a fence in L2: read the written keys again, so every round
          // starts with the whole data set in L2, as the first did.
          const keys = [...writes]
          writes.clear()
          await primeKeys(new URL(stack.nginxUrl), scenario, { keys, signal })
        }
        const row = await measurePoint(stack, point, {
          scenario,
          vus: values.vus,
          warmupMs: values.warmup,
          durationMs: values.duration,
          seed: values.seed + round,
          seedAndPrime: round === 0,
          written: writes,
          progress,
          label,
          signal,
        })
        measured.set(id, [...(measured.get(id) ?? []), row])
        writeJson(join(outDir, `${id}-round${round + 1}.json`), row)
        if (row.errors > 0) failed = true
        progress.log(
          `${label}${Math.round(row.rps).toLocaleString('en-US')} req/s, p99 ${row.p99_ms} ms, CPU/request: replicas ${row.cpu_us_per_req.replica} µs, total ${row.cpu_us_per_req_total} µs; ${row.errors} errors`,
        )
      } catch (error) {
        failed = true
        progress.log(`${label}FAILED: ${(error as Error).message}`)
      } finally {
        pauseStack(stack)
      }
    }
  } finally {
    progress.log('Stopping the stacks')
    for (const { dataDir, stack } of stacks.values()) {
      // A paused process would hold SIGTERM pending and never drain.
      if (stack) await resumeStack(stack, 5_000).catch(() => {})
      await stackDown(dataDir, stackEnv, logFile).catch(() => {})
    }
    rmSync(workDir, { recursive: true, force: true })
  }
  const rows = [...measured.values()].map(medianScaleRow)
  const machine = machineInfo()
  const command = `pnpm loadtest:scale ${argv.join(' ')}`.trim()
  writeJson(join(outDir, 'summary.json'), {
    command,
    machine,
    settings: {
      replicas,
      sizes,
      vus: values.vus,
      warmup_ms: values.warmup,
      duration_ms: values.duration,
      repeat: values.repeat,
    },
    rows,
  })
  const report = scaleReport(rows, {
    command,
    vus: values.vus,
    durationS: values.duration / 1000,
    repeat: values.repeat,
    machine: `Measured on ${machine.cpus} × ${machine.cpu_model}, Node ${machine.node}.`,
  })
  writeFileSync(join(outDir, 'report.md'), report)
  console.log(`\n${report}`)
  console.log(`Results: ${relative(REPO_ROOT, outDir)}/`)
  const complete = rows.length === replicas.length * sizes.length && !signal.aborted
  return failed || !complete ? 1 : 0
}
