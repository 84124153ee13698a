import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from '@strata/stack/config'
import type { RunningStack } from '@strata/stack/running-stack'
import { afterEach, describe, expect, it } from 'vitest'
import { bareNginxConfig } from './limit-bare.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A stack's nginx.conf rendered from the repository's local template, as the stack runner does. */
function stackWithConfig(nginxPort: number, replicaPorts: number[]): RunningStack {
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-limit-test-'))
  dirs.push(dataDir)
  const runDir = join(dataDir, 'nginx')
  mkdirSync(runDir)
  const values: Record<string, string> = {
    LISTEN_PORT: String(nginxPort),
    RUN_DIR: runDir,
    LOG_DIR: join(dataDir, 'logs', 'nginx'),
    CONF_DIR: join(REPO_ROOT, 'deploy/nginx'),
    UPSTREAM_SERVERS: replicaPorts
      .map((port) => `server 127.0.0.1:${port} max_fails=1 fail_timeout=2s;`)
      .join('\n        '),
    READ_UPSTREAM: 'strata_rr',
    BODY_TEMP_DIR: join(runDir, 'client_body_temp'),
    CONN_LIMIT: '256',
    OPS_RATE: '20',
    OPS_BURST: '40',
  }
  const template = readFileSync(join(REPO_ROOT, 'deploy/nginx/local.conf.template'), 'utf8')
  const conf = template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`the template uses {{${name}}}, unknown to this test`)
    return value
  })
  writeFileSync(join(runDir, 'nginx.conf'), conf)
  return {
    dataDir,
    nginxUrl: `http://127.0.0.1:${nginxPort}`,
    replicas: replicaPorts.map((port, i) => ({
      name: `replica-${i + 1}`,
      url: `http://127.0.0.1:${port}`,
      pid: 0,
    })),
  } as RunningStack
}

describe('bareNginxConfig', () => {
  it('moves every server block of the stack’s nginx.conf to the bare side’s ports and directories', () => {
    const stack = stackWithConfig(25_000, [25_001, 25_002, 25_003])
    const conf = bareNginxConfig(stack, [25_501, 25_502, 25_503], 25_500, '/run/bare', '/log/bare')
    expect(conf).not.toContain(stack.dataDir)
    expect(conf).not.toMatch(/:2500\d\b/)
    expect(conf.match(/listen 127\.0\.0\.1:25500[ ;]/g)).toHaveLength(2)
    expect(conf.match(/server 127\.0\.0\.1:2550[123] /g)?.length).toBeGreaterThanOrEqual(3)
    expect(conf).toContain('"/run/bare/nginx.pid"')
    expect(conf).toContain('"/log/bare/access.log"')
  })
})
