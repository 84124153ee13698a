import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LoadBalancing } from './config.js'
import { StackError } from './errors.js'

/** What goes into deploy/nginx/local.conf.template. */
export interface NginxConfigInput {
  template: string
  listenPort: number
  /** nginx's prefix: pid file and temp directories. */
  runDir: string
  /** Where nginx writes access.log and error.log. */
  logDir: string
  /** deploy/nginx, holding the snippets the template includes. */
  confDir: string
  replicaPorts: readonly number[]
  lb: LoadBalancing
}

const READ_UPSTREAM: Record<LoadBalancing, string> = {
  'round-robin': 'strata_rr',
  'key-affinity': 'strata_affinity',
}

/** Renders the template into `<runDir>/nginx.conf`, returning that path. */
export function writeNginxConfig(input: NginxConfigInput): string {
  if (!existsSync(input.template)) {
    throw new StackError('E_COMPONENT_FAILED', `nginx: template ${input.template} is missing`)
  }
  const rendered = renderNginxConfig(readFileSync(input.template, 'utf8'), input)
  const path = join(input.runDir, 'nginx.conf')
  writeFileSync(path, rendered)
  return path
}

/** Replaces every `{{PLACEHOLDER}}` verbatim, and fails on one it does not know (a template newer than this code). */
export function renderNginxConfig(
  template: string,
  input: Omit<NginxConfigInput, 'template'>,
): string {
  const values: Record<string, string> = {
    LISTEN_PORT: String(input.listenPort),
    RUN_DIR: input.runDir,
    LOG_DIR: input.logDir,
    CONF_DIR: input.confDir,
    // max_fails=1 + a short fail_timeout: a dead replica leaves the rotation after one failed
    // attempt and is tried again 2 s later, which is how a restarted replica rejoins.
    UPSTREAM_SERVERS: input.replicaPorts
      .map((port) => `server 127.0.0.1:${port} max_fails=1 fail_timeout=2s;`)
      .join('\n        '),
    READ_UPSTREAM: READ_UPSTREAM[input.lb],
  }
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (placeholder, name: string) => {
    const value = values[name]
    if (value === undefined) {
      throw new StackError(
        'E_COMPONENT_FAILED',
        `nginx: the template uses ${placeholder}, which the stack does not know`,
      )
    }
    return value
  })
}
