import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { type LoadBalancing, NGINX_ENV, type NginxLimits } from './config.js'
import { StackError } from './errors.js'

/** What goes into deploy/nginx/local.conf.template. */
export interface NginxConfigInput {
  listenPort: number
  /** nginx's prefix: pid file and temp directories. */
  runDir: string
  /** Where nginx writes access.log and error.log. */
  logDir: string
  /** deploy/nginx, holding the snippets the template includes. */
  confDir: string
  replicaPorts: readonly number[]
  lb: LoadBalancing
  /** Where nginx spools request bodies; see {@link bodyTempDir}. */
  bodyTempDir: string
}

/** The `${STRATA_*}` templates the runner renders into `runDir` (as nginx's image does in Docker). */
export const NGINX_TEMPLATES = ['strata-limits.conf', 'strata-limited-locations.conf'] as const

/** What the local stack renders nginx's configuration from. */
export interface NginxFilesInput extends Omit<NginxConfigInput, 'bodyTempDir'> {
  /** deploy/nginx/local.conf.template. */
  template: string
  /** deploy/nginx/templates, holding the `${STRATA_*}` templates. */
  templatesDir: string
  limits: NginxLimits
}

const READ_UPSTREAM: Record<LoadBalancing, string> = {
  'round-robin': 'strata_rr',
  'key-affinity': 'strata_affinity',
}

/**
 * Renders `<runDir>/nginx.conf` from the local template, and the shared `${STRATA_*}` templates
 * it includes, into `runDir`; returns the path of nginx.conf.
 */
export function writeNginxConfig(input: NginxFilesInput): string {
  const read = (file: string) => {
    if (!existsSync(file))
      throw new StackError('E_COMPONENT_FAILED', `nginx: template ${file} is missing`)
    return readFileSync(file, 'utf8')
  }
  const values = nginxTemplateValues(input.limits)
  for (const name of NGINX_TEMPLATES) {
    const template = read(join(input.templatesDir, `${name}.template`))
    writeFileSync(join(input.runDir, name), renderNginxTemplate(template, values))
  }
  const path = join(input.runDir, 'nginx.conf')
  const bodyTemp = bodyTempDir(input.runDir, process.getuid?.() === 0)
  writeFileSync(path, renderNginxConfig(read(input.template), { ...input, bodyTempDir: bodyTemp }))
  return path
}

/** Records the private body directory of the last start, so the next start removes it. */
const BODY_TEMP_RECORD = 'client_body_temp.path'
const BODY_TEMP_PREFIX = 'strata-nginx-body-'

/**
 * The directory nginx spools request bodies to: `<runDir>/client_body_temp` where its workers can
 * reach it. Started as root, nginx runs its workers as `nobody`; when `runDir` lies under a
 * directory others cannot search (/root, a mode-700 data directory), the workers could not open
 * a spooled body there. The bodies then go to a fresh mode-700 directory under the system temp
 * directory, created here (mkdtemp: no other user can have planted it or a symlink in its
 * place) and handed to the worker user by nginx's master on start. The one left by the previous
 * start of this `runDir` is removed first.
 */
export function bodyTempDir(runDir: string, asRoot: boolean): string {
  if (!asRoot || searchableByOthers(runDir)) return join(runDir, 'client_body_temp')
  const base = tmpdir()
  if (!searchableByOthers(base)) {
    throw new StackError(
      'E_COMPONENT_FAILED',
      `nginx: its workers (user nobody) can reach neither ${runDir} nor the temp directory ${base}; ` +
        'set TMPDIR to a directory every user can search (e.g. /tmp), or use a --data-dir they can',
    )
  }
  const record = join(runDir, BODY_TEMP_RECORD)
  if (existsSync(record)) {
    const previous = readFileSync(record, 'utf8').trim()
    if (dirname(previous) === base && previous.startsWith(join(base, BODY_TEMP_PREFIX)))
      rmSync(previous, { recursive: true, force: true })
  }
  const dir = mkdtempSync(join(base, BODY_TEMP_PREFIX))
  writeFileSync(record, `${dir}\n`)
  return dir
}

/** Whether a user other than the owner can reach `dir`: it and every parent searchable (o+x). */
export function searchableByOthers(dir: string): boolean {
  for (let path = dir; ; path = dirname(path)) {
    if ((statSync(path).mode & 0o001) === 0) return false
    if (dirname(path) === path) return true
  }
}

/** The value of every `${STRATA_*}` variable of the templates, for these limits. */
export function nginxTemplateValues(limits: NginxLimits): Record<string, string> {
  const values: Record<string, string> = {
    STRATA_RATE_LIMIT: limits.rateLimit ? 'on' : 'off',
    // When a /clear-cache slot frees again: one every 60 / rate seconds.
    STRATA_ADMIN_RETRY_AFTER: String(Math.ceil(60 / limits.adminRate)),
    // /metrics, /cache-stats and /docs stay served: the local stack listens on loopback only
    // (Docker defaults to off; docs/security.md).
    STRATA_EXPOSE_OPS: 'on',
  }
  for (const [setting, variable] of Object.entries(NGINX_ENV)) {
    values[variable] = String(limits[setting as keyof typeof NGINX_ENV])
  }
  return values
}

/**
 * Replaces every `${STRATA_NAME}` as the nginx image's entrypoint does with envsubst, and fails
 * on a name it has no value for: envsubst would leave it, and nginx would refuse the file.
 */
export function renderNginxTemplate(template: string, values: Record<string, string>): string {
  return substitute(template, /\$\{(STRATA_[A-Z0-9_]+)\}/g, values)
}

/** Replaces every `{{PLACEHOLDER}}` verbatim, and fails on one it does not know (a template newer than this code). */
export function renderNginxConfig(template: string, input: NginxConfigInput): string {
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
    BODY_TEMP_DIR: input.bodyTempDir,
  }
  return substitute(template, /\{\{([A-Z_]+)\}\}/g, values)
}

/** Replaces each match of `pattern` (group 1: the name) by its value; an unknown name fails. */
function substitute(template: string, pattern: RegExp, values: Record<string, string>): string {
  return template.replace(pattern, (placeholder, name: string) => {
    const value = values[name]
    if (value === undefined) {
      throw new StackError(
        'E_COMPONENT_FAILED',
        `nginx: a template uses ${placeholder}, which the stack does not set`,
      )
    }
    return value
  })
}
