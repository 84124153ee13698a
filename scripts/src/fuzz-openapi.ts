/**
 * `pnpm fuzz:openapi`: schemathesis against a throw-away API replica's /openapi.json.
 * Run with `tsx scripts/src/fuzz-openapi.ts [options]`; see `--help`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureBuilt } from '@strata/stack/build'
import { REPO_ROOT } from '@strata/stack/config'
import { httpStatus } from '@strata/stack/http'
import { consoleReporter as log } from '@strata/stack/reporter'
import { readFuzzOpenApiEnvironment } from './fuzz-openapi/env.js'
import { HELP, parseFuzzOpenApiArgs, UsageError } from './fuzz-openapi/options.js'
import {
  installSchemathesis,
  locateSchemathesis,
  SchemathesisMissingError,
  schemathesisArgs,
} from './fuzz-openapi/schemathesis.js'

/** The running child (the replica or schemathesis), stopped on Ctrl-C so cleanup runs. */
let foreground: ChildProcess | undefined

async function main(): Promise<number> {
  const options = parseFuzzOpenApiArgs(process.argv.slice(2))
  if (options.help) {
    console.log(HELP)
    return 0
  }
  const env = readFuzzOpenApiEnvironment()
  if (options.install) {
    installSchemathesis(env.cacheDir, (line) => log.info(line))
    return 0
  }
  const schemathesis = locateSchemathesis(options.schemathesis ?? env.schemathesis, env.cacheDir)
  ensureBuilt(REPO_ROOT, log, { api: true })
  // Imported only now: its dist/ is what the build above produces on a fresh checkout.
  const { freePort, startPostgresServer, startRedisServer, stopProcess } = await import(
    '@strata/test-servers'
  )

  log.step('Starting a throw-away PostgreSQL and Redis on free ports')
  const [postgres, redis] = await Promise.all([startPostgresServer(), startRedisServer()])
  const workDir = mkdtempSync(join(tmpdir(), 'strata-openapi-'))
  let api: ChildProcess | undefined
  const apiOutput: string[] = []
  try {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const adminToken = randomBytes(16).toString('hex')
    log.step(`Starting an API replica on ${base}`)
    api = spawn(process.execPath, [join(REPO_ROOT, 'apps/api/dist/server.js')], {
      env: {
        ...env.baseEnv,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: postgres.url,
        REDIS_URL: redis.url,
        ADMIN_TOKEN: adminToken,
        REPLICA_ID: 'openapi-fuzz',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    api.stdout?.on('data', (chunk: Buffer) => apiOutput.push(chunk.toString()))
    api.stderr?.on('data', (chunk: Buffer) => apiOutput.push(chunk.toString()))
    await waitUntilReady(base, api, apiOutput)

    const args = schemathesisArgs(base, options, adminToken)
    log.step(`schemathesis ${args.join(' ').replace(adminToken, '<admin token>')}`)
    const status = await run(schemathesis, args, workDir)
    // A replica that logged an error answered something it should not have, whatever the checks said.
    const errors = apiOutput
      .join('')
      .split('\n')
      .filter((line) => /"level":(5\d|60)/.test(line))
    if (errors.length > 0) {
      log.warn(`the replica logged ${errors.length} error(s):\n${errors.slice(0, 20).join('\n')}`)
      return status === 0 ? 1 : status
    }
    log.step(status === 0 ? 'No issues found' : `schemathesis exited with status ${status}`)
    return status
  } finally {
    log.step('Stopping the replica, Redis and PostgreSQL')
    if (api) await stopProcess(api, 'SIGTERM')
    await Promise.all([redis.stop(), postgres.stop()])
    rmSync(workDir, { recursive: true, force: true })
  }
}

/** Polls `/health/ready` until 200; fails with the replica's output if it exits or takes 60 s. */
async function waitUntilReady(base: string, api: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const ready = (await httpStatus(`${base}/health/ready`)) === 200
    if (ready) return
    if (api.exitCode !== null || Date.now() > deadline) {
      throw new Error(`the API replica did not become ready:\n${output.join('')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Runs a command in the foreground and resolves with its exit status. */
function run(command: string, args: string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: 'inherit' })
    foreground = child
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      foreground = undefined
      resolve(code ?? (signal === 'SIGINT' ? 130 : 1))
    })
  })
}

// Ctrl-C during the run stops schemathesis, and main() then stops the servers it started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (foreground) foreground.kill(signal)
    else process.exit(130)
  })
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof SchemathesisMissingError) {
      console.error(`\nfuzz:openapi: ${error.message}`)
      process.exitCode = 2
      return
    }
    console.error(error)
    process.exitCode = 1
  },
)
